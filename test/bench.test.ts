import t from 'tap'
import { latencyPlot, seriesOf } from '../bench/plot.js'
import { bench, finite, noKeysLeft } from './helpers/bench.js'

/**
 * A smoke run of `npm run bench` with tiny numbers, against Plaza (a real process, the real Redis)
 * and the bare baselines, so that the benchmark cannot rot. No timing is asserted: only that every
 * figure is there, every broadcast arrived, and latencies are numbers.
 */
const walkFigures = [
  'users joined / spaces',
  'join storm: first connect → last space-joined (ms)',
  'moves accepted (/s)',
  'move→peer latency p50 (ms)',
  'move→peer latency p95 (ms)',
  'move→peer latency p99 (ms)',
  'move→peer latency max (ms)',
  'broadcasts delivered / expected',
  'rejected moves',
  'server CPU (% of one core)',
  'server CPU per user (µs per s)',
  'server RSS per user, over idle (KB)',
  'Redis commands (/s)',
  'Redis commands per accepted move',
  'event-loop lag p99 (ms)',
  'holds (p99 ≤ 50 ms, 100% delivered)'
]

const stormFigures = [
  'join storm: first connect → last space-joined (ms)',
  'of which on threads other than the main one (ms; V8 compiling and GC)',
  'load generator CPU during the storm (ms)',
  'joins that resumed a ghost (the server\'s count)',
  'join latency p99 (ms)',
  'server RSS per user, over idle (KB)',
  'Redis commands per join'
]

t.test('a join storm and a walk against Plaza and the three baselines (plain, corked, behind Fastify), after the generator\'s warm-up; the plot of what it wrote (plaza.v1)', async (t) => {
  const { stdout, stderr, output } = await bench(t, [
    '--join-storm', '12/3', '--step', '8', '--spaces', '2', '--hz', '2', '--duration', '2', '--warmup', '0', '--drain', '5',
    '--baseline', 'plain,cork,fastify'
  ])
  for (const figure of [...walkFigures, ...stormFigures]) t.match(stdout, `| ${figure} |`, `the table shows "${figure}"`)
  t.match(stdout, '| figure | Plaza | baseline | baseline --cork | baseline --fastify | Plaza/baseline | Plaza/baseline --cork | Plaza/baseline --fastify |')
  t.match(stderr, 'warming up the load generator (1/2): join storm: 12 users into 3 spaces (20×20) at once, plaza.v1, against the baseline', 'the generator ran the first scenario before measuring')
  t.match(stderr, 'warming up the load generator (2/2)', 'twice')

  const [storm, walk] = output.results
  t.equal(storm?.scenario.mode, 'join-storm')
  t.equal(walk?.scenario.mode, 'walk')
  t.same(storm?.runs.map((r) => r.server), ['Plaza', 'baseline', 'baseline --cork', 'baseline --fastify'])
  for (const run of storm?.runs ?? []) {
    t.equal(run.load.joined, 12, `${run.server}: everyone joined the storm`)
    t.equal(run.load.unexpectedCloses, 0, `${run.server}: no socket was closed by the server`)
    t.ok(finite(run.load.joinStormMs) && finite(run.load.joinLatencyMs.p99), `${run.server}: join times are numbers`)
    t.ok(finite(run.rssMB), `${run.server}: RSS is a number`)
    t.ok(finite(run.cpuOtherThreadsMs) && run.cpuOtherThreadsMs >= 0 && run.cpuOtherThreadsMs <= run.cpuMs, `${run.server}: its other threads' CPU is a number, within its CPU`)
    t.ok(run.generatorCpuMs > 0, `${run.server}: the generator's CPU is counted`)
    t.equal(run.load.joiningAtOnceMax, 12, `${run.server}: the 12 joined at once, none waiting for another`)
  }
  t.equal(storm?.runs[0]?.resumedJoins, 0, 'Plaza: nobody to resume in a first storm')
  for (const run of walk?.runs ?? []) {
    const { load } = run
    t.equal(load.joined, 8, `${run.server}: everyone joined`)
    t.ok(load.moves.sent > 0, `${run.server}: moves were sent`)
    t.equal(load.moves.rejected, 0, `${run.server}: no move was refused`)
    t.ok(load.broadcasts.expected > 0, `${run.server}: broadcasts were expected`)
    t.equal(load.broadcasts.delivered, load.broadcasts.expected, `${run.server}: every broadcast was delivered`)
    t.equal(load.mismatched, 0, `${run.server}: every move matched its send`)
    t.equal(load.unexpectedCloses, 0, `${run.server}: no socket was closed by the server`)
    for (const q of ['p50', 'p95', 'p99', 'max'] as const) t.ok(finite(load.latencyMs[q]), `${run.server}: latency ${q} is a number`)
    t.ok(finite(run.cpuPct), `${run.server}: CPU is a number`)
    t.ok(finite(run.lag.p99Ms), `${run.server}: event-loop lag is a number`)
  }
  const plaza = walk?.runs.find((r) => r.server === 'Plaza')
  t.ok(finite(plaza?.redisPerMove), 'Redis commands per accepted move are counted for Plaza')
  const svg = latencyPlot(seriesOf([{ label: 'plaza.v1', runs: output }]), { limitMs: 50, title: '', subtitle: '' })
  t.equal((svg.match(/<polyline /g) ?? []).length, 4, 'bench/plot.ts draws a line per server from what the bench wrote')
  await noKeysLeft(t, output)
})

t.test('the metaverse dialect', async (t) => {
  const { stdout, stderr, output } = await bench(t, ['--users', '6', '--spaces', '2', '--hz', '2', '--duration', '2', '--warmup', '0', '--drain', '5', '--dialect', 'metaverse', '--no-generator-warmup'])
  t.match(stdout, 'metaverse')
  t.notMatch(stderr, 'warming up', '--no-generator-warmup measures at once')
  const runs = output.results[0]?.runs ?? []
  t.same(runs.map((r) => r.server), ['Plaza', 'baseline'])
  for (const run of runs) {
    t.equal(run.load.joined, 6, `${run.server}: everyone joined`)
    t.ok(run.load.broadcasts.expected > 0, `${run.server}: broadcasts were expected`)
    t.equal(run.load.broadcasts.delivered, run.load.broadcasts.expected, `${run.server}: every movement was delivered`)
    t.ok(finite(run.load.latencyMs.p99), `${run.server}: latency is a number`)
  }
  await noKeysLeft(t, output)
})
