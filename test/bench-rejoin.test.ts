import t from 'tap'
import { bench, noKeysLeft } from './helpers/bench.js'

/**
 * `npm run bench -- --join-storm U/S --rejoin`, with tiny numbers: the measured storm is the same
 * users coming back to a server process they joined, walked on and dropped from twice, and Plaza
 * resumes every one of them.
 */
t.test('users coming back after a cut: everyone is back, and Plaza resumed every one', async (t) => {
  const { stdout, output } = await bench(t, ['--join-storm', '12/3', '--rejoin', '--baseline', 'plain', '--no-generator-warmup'])
  const [storm, rejoin] = output.results
  t.equal(storm?.scenario.rejoin, undefined, 'the fresh process\'s storm comes first')
  t.equal(rejoin?.scenario.rejoin, true)
  t.match(stdout, '#### join storm: 12 users into 3 spaces (20×20) at once, coming back (the same users, who joined the same server process, walked 2 s at 1 move/s and all dropped, 2 times before)')
  t.same(rejoin?.runs.map((r) => r.server), ['Plaza', 'baseline'])
  for (const run of rejoin?.runs ?? []) {
    t.equal(run.load.joined, 12, `${run.server}: everyone came back`)
    t.equal(run.load.unexpectedCloses, 0, `${run.server}: no socket was closed by the server`)
  }
  t.equal(rejoin?.runs[0]?.resumedJoins, 12, 'Plaza resumed each of the 12 where they stood')
  t.equal(storm?.runs[0]?.resumedJoins, 0, 'and nobody in the fresh process\'s storm')
  await noKeysLeft(t, output)
})
