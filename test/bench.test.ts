import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { latencyPlot, seriesOf, type StepRuns } from '../bench/plot.js'

/**
 * A smoke run of `npm run bench` with tiny numbers, against Plaza (a real process, the real Redis)
 * and the bare baselines, so that the benchmark cannot rot. No timing is asserted: only that every
 * figure is there, every broadcast arrived, and latencies are numbers.
 */
const root = new URL('..', import.meta.url).pathname

interface Percentiles { p50: number, p95: number, p99: number, max: number, samples: number }
interface Run {
  server: string
  load: {
    users: number
    joined: number
    joinStormMs: number
    joinLatencyMs: Percentiles
    moves: { sent: number, rejected: number, accepted: number }
    broadcasts: { delivered: number, expected: number }
    latencyMs: Percentiles
    mismatched: number
    unexpectedCloses: number
  }
  cpuPct: number
  rssMB: number
  redisPerMove: number
  redisPerJoin: number
  lag: { p99Ms: number, maxMs: number }
}
interface Output {
  redisUrl: string
  keyPrefixes: string[]
  results: Array<{ scenario: { mode: 'walk' | 'join-storm', users: number, rejoin?: boolean }, runs: Run[] }>
}

async function bench (t: Test, args: string[]): Promise<{ stdout: string, stderr: string, output: Output }> {
  const dir = mkdtempSync(join(tmpdir(), 'plaza-bench-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'out.json')
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args, '--json', file], {
    cwd: root,
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, 'npm run bench exits 0', { stderr })
  return { stdout, stderr, output: JSON.parse(readFileSync(file, 'utf8')) as Output }
}

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
  'join latency p99 (ms)',
  'server RSS per user, over idle (KB)',
  'Redis commands per join'
]

const finite = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n)

async function noKeysLeft (t: Test, output: Output): Promise<void> {
  const redis = new Redis(output.redisUrl)
  try {
    t.ok(output.keyPrefixes.length > 0, 'Plaza ran under a key prefix of its own')
    for (const prefix of output.keyPrefixes) {
      const [, keys] = await redis.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 10_000)
      t.same(keys, [], `no key left under ${prefix}`)
    }
  } finally {
    redis.disconnect()
  }
}

t.test('a join storm and a walk against Plaza and the three baselines: plain, corked, behind Fastify (plaza.v1)', async (t) => {
  const { stdout, stderr, output } = await bench(t, [
    '--join-storm', '12/3', '--rejoin', '--step', '8', '--spaces', '2', '--hz', '2', '--duration', '2', '--warmup', '0', '--drain', '5',
    '--baseline', 'plain,cork,fastify'
  ])
  for (const figure of [...walkFigures, ...stormFigures]) t.match(stdout, `| ${figure} |`, `the table shows "${figure}"`)
  t.match(stdout, '| figure | Plaza | baseline | baseline --cork | baseline --fastify | Plaza/baseline | Plaza/baseline --cork | Plaza/baseline --fastify |')
  t.match(stderr, 'warming up the load generator: join storm: 12 users into 3 spaces', 'the generator ran the first scenario once before measuring')

  const [storm, rejoin, walk] = output.results
  t.equal(storm?.scenario.mode, 'join-storm')
  t.equal(rejoin?.scenario.mode, 'join-storm')
  t.equal(rejoin?.scenario.rejoin, true, '--rejoin adds the storm of users coming back')
  t.match(stdout, '#### join storm: 12 users into 3 spaces (20×20) at once, coming back (the same users, who joined the same server process')
  t.equal(walk?.scenario.mode, 'walk')
  for (const result of [storm, rejoin]) {
    t.same(result?.runs.map((r) => r.server), ['Plaza', 'baseline', 'baseline --cork', 'baseline --fastify'])
    for (const run of result?.runs ?? []) {
      t.equal(run.load.joined, 12, `${run.server}: everyone joined the storm`)
      t.equal(run.load.unexpectedCloses, 0, `${run.server}: no socket was closed by the server`)
      t.ok(finite(run.load.joinStormMs) && finite(run.load.joinLatencyMs.p99), `${run.server}: join times are numbers`)
      t.ok(finite(run.rssMB), `${run.server}: RSS is a number`)
    }
  }
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
  const svg = latencyPlot(seriesOf([{ label: 'plaza.v1', runs: output as unknown as StepRuns }]), { limitMs: 50, title: '', subtitle: '' })
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
