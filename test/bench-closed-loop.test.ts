import t from 'tap'
import { bench, noKeysLeft } from './helpers/bench.js'

/**
 * `npm run bench -- --join-storm U/S --join-concurrency K`, with tiny numbers: users join K at a time,
 * each waiting for its space-joined before the next connects, as a client that joins its users one
 * after another does.
 */
t.test('joins that wait for each other: everyone joins, never more than K at once', async (t) => {
  const { stdout, output } = await bench(t, ['--join-storm', '12/3', '--join-concurrency', '2', '--baseline', 'plain', '--no-generator-warmup'])
  const [storm] = output.results
  t.equal(storm?.scenario.joinConcurrency, 2)
  t.match(stdout, '#### join storm: 12 users into 3 spaces (20×20) 2 at a time, each waiting for its space-joined, plaza.v1')
  t.same(storm?.runs.map((r) => r.server), ['Plaza', 'baseline'])
  for (const run of storm?.runs ?? []) {
    t.equal(run.load.joined, 12, `${run.server}: everyone joined`)
    t.equal(run.load.unexpectedCloses, 0, `${run.server}: no socket was closed by the server`)
    t.equal(run.load.joiningAtOnceMax, 2, `${run.server}: two joining at a time, never more`)
  }
  await noKeysLeft(t, output)
})
