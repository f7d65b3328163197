import t from 'tap'
import { settle } from './helpers/app.js'
import { ADMIN, FAST_LIVENESS, connect, defineSpace, entry, joinType, redisNow, startCluster, token } from './helpers/cluster.js'

/**
 * A server of a cluster that dies (SIGKILL) or shuts down (SIGTERM): its users become ghosts and
 * the peers on the other servers are told, once. Each test kills a server of its own pair.
 */

type Point = { x: number, y: number }

t.test('a killed server is noticed: its users become ghosts, peers are told, and they resume elsewhere', async (t) => {
  const { servers: [s1, s2], shared } = await startCluster(t, 2)
  await defineSpace(s1, 'room', { width: 10, height: 10 })
  const alice = await connect(t, s1)
  const bob = await connect(t, s2)
  const carol = await connect(t, s2, 'metaverse')
  const spawn = (await alice.join('room', token('alice'))).spawn as Point
  await bob.join('room', token('bob'))
  await carol.join('room', token('carol'))
  const step = { x: spawn.x + (spawn.x + 1 < 10 ? 1 : -1), y: spawn.y }
  alice.send({ type: 'move', payload: step })
  await bob.waitFor('user-moved')
  await carol.waitFor('movement')
  await settle(() => entry(shared, 'room', 'alice'), (e) => e.x === step.x)

  s1.child.kill('SIGKILL')
  await s1.exited
  t.same((await bob.waitFor('user-disconnected', 5000)).payload, { userId: 'alice' }, 'plaza.v1 peers elsewhere hear the drop')
  t.same((await carol.waitFor('user-left', 5000)).payload, { userId: 'alice' }, 'metaverse peers hear user-left')
  const ghost = await entry(shared, 'room', 'alice')
  t.match(ghost, { x: step.x, y: step.y, connected: false }, 'alice is a ghost in Redis where she last stood')

  // Bob's next frame is her return: told once, nothing between.
  const back = await connect(t, s2)
  const resumed = await back.join('room', token('alice'))
  t.equal(resumed.resumed, true)
  t.same(resumed.spawn, step, 'she resumes on another server at her last persisted position')
  t.same(await bob.next(), { type: 'user-joined-space', payload: { userId: 'alice', username: 'ALICE', ...step } }, 'told of the death once, then of her return')
})

t.test('SIGTERM on one server: its users become ghosts and peers on the others hear the drop; stats count across servers', async (t) => {
  const { servers: [s1, s2], shared } = await startCluster(t, 2)
  await defineSpace(s1, 'room', { width: 10, height: 10 })
  const alice = await connect(t, s1)
  const bob = await connect(t, s2)
  await alice.join('room', token('alice'))
  await bob.join('room', token('bob'))
  await alice.next(joinType(alice))

  const stats = await settle(async () => (await (await fetch(`${s2.http}/admin/stats`, { headers: { authorization: ADMIN.authorization } })).json()) as {
    totalUsers: number
    cluster: { connectedUsers: number, ghostUsers: number }
  }, (s) => s.cluster.connectedUsers === 2)
  t.equal(stats.totalUsers, 1, 'local: this server\'s own users')
  t.match(stats.cluster, { connectedUsers: 2, ghostUsers: 0 }, 'cluster: both servers\' users')

  s1.child.kill('SIGTERM')
  t.equal((await alice.closed).code, 1001)
  t.same((await bob.next('user-disconnected', 3000)).payload, { userId: 'alice' })
  await s1.exited
  // Had server 1 not left the live set, server 2 would find it dead at its first beat past
  // SERVER_DEAD_AFTER_MS and reap it in that beat's turn, which ends before the next beat begins.
  const exitedAt = await redisNow(shared)
  const beat = () => shared.redis.zscore(`${shared.prefix}plaza:servers`, s2.id).then(Number)
  const deadline = exitedAt + FAST_LIVENESS.SERVER_DEAD_AFTER_MS
  const firstPast = await settle(beat, (at) => at >= deadline, 10_000)
  const next = await settle(beat, (at) => at > firstPast, 10_000)
  t.ok(firstPast >= deadline && next > firstPast, 'server 2 has beaten twice since server 1 would be found dead')
  t.same(await bob.quiet(), [], 'told once, not again when the server is found gone')
})
