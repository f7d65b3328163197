import t from 'tap'
import { connect, defineSpace, startCluster, token } from './helpers/cluster.js'

/** A join on one server sees where users of another server stand now, from that server's memory. */

t.test('a join sees users of other servers where they stand now, not where they joined', async (t) => {
  // Positions reach Redis only at shutdown: whatever the joiner sees comes from the other server.
  const { servers: [s1, s2] } = await startCluster(t, 2, { POSITION_FLUSH_MS: 60_000 })
  await defineSpace(s1, 'hall', { width: 30, height: 3 })
  const alice = await connect(t, s1)
  const start = (await alice.join('hall', token('alice'))).spawn as { x: number, y: number }
  const dx = start.x + 3 < 30 ? 1 : -1
  for (let k = 1; k <= 3; k++) alice.send({ type: 'move', payload: { x: start.x + dx * k, y: start.y } })
  t.same(await alice.quiet(), [], 'her server has taken the three steps')

  const bob = await connect(t, s2)
  const snapshot = await bob.join('hall', token('bob'))
  t.match(snapshot.users, [{ userId: 'alice', x: start.x + dx * 3, y: start.y, connected: true }], 'the first join on a server has the current position')
  alice.send({ type: 'move', payload: { x: start.x + dx * 2, y: start.y } })
  await bob.next('user-moved')
  const carol = await connect(t, s2, 'metaverse')
  const users = ((await carol.join('hall', token('carol'))).users as Array<{ userId: string }>).sort((p, q) => p.userId.localeCompare(q.userId))
  t.same(users, [
    { userId: 'alice', x: start.x + dx * 2, y: start.y },
    { userId: 'bob', ...(snapshot.spawn as object) }
  ], 'a later join on that server too')
})
