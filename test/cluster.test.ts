import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { ADMIN_TOKEN, JWT_SECRET, isolate, settle, testEnv, type Isolation } from './helpers/app.js'
import { TestClient, type Frame } from './helpers/client.js'
import { startServer, type ServerProcess } from './helpers/process.js'

/**
 * Several Plaza processes on one Redis behave as one (issue 4). Every server here is a real process
 * started from server/main.ts, with fast heartbeats so that a dead one is noticed within a second.
 */

const sign = createSigner({ key: JWT_SECRET })
const token = (userId: string): string => sign({ userId, username: userId.toUpperCase() })
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }

async function cluster (t: Test, count: number, env: Record<string, string | number> = {}): Promise<{ servers: ServerProcess[], shared: Isolation }> {
  const shared = isolate(t)
  const servers = await Promise.all(Array.from({ length: count }, () => startServer(t, testEnv(shared.prefix, {
    SERVER_HEARTBEAT_MS: 200,
    SERVER_DEAD_AFTER_MS: 1000,
    POSITION_FLUSH_MS: 50,
    ...env
  }))))
  return { servers, shared }
}

async function defineSpace (server: ServerProcess, id: string, body: unknown): Promise<number> {
  const reply = await fetch(`${server.http}/admin/spaces/${id}`, { method: 'PUT', headers: admin, body: JSON.stringify(body) })
  return reply.status
}

async function connect (t: Test, server: ServerProcess, protocol: 'plaza.v1' | 'metaverse' = 'plaza.v1'): Promise<TestClient> {
  const client = await TestClient.connect(`${server.ws}/ws`, protocol)
  t.teardown(() => client.close())
  return client
}

/** One users-hash entry, parsed ({} when absent). */
async function entry (shared: Isolation, spaceId: string, userId: string): Promise<Record<string, unknown>> {
  return JSON.parse(await shared.redis.hget(`${shared.prefix}space:${spaceId}:users`, userId) ?? '{}') as Record<string, unknown>
}

const moveType = (c: TestClient): string => c.socket.protocol === 'metaverse' ? 'movement' : 'user-moved'
const joinType = (c: TestClient): string => c.socket.protocol === 'metaverse' ? 'user-joined' : 'user-joined-space'

t.test('users on three servers share a space: joins and every move reach every peer once, in order', async (t) => {
  const { servers: [s1, s2, s3] } = await cluster(t, 3) as unknown as { servers: [ServerProcess, ServerProcess, ServerProcess] }
  t.equal(await defineSpace(s1, 'plaza', { width: 20, height: 3 }), 201)
  const alice = await connect(t, s1, 'plaza.v1')
  const bob = await connect(t, s2, 'metaverse')
  const carol = await connect(t, s3, 'plaza.v1')

  const a = (await alice.join('plaza', token('alice'))).spawn as { x: number, y: number }
  const bobJoined = await bob.join('plaza', token('bob'))
  t.same(bobJoined.users, [{ userId: 'alice', x: a.x, y: a.y }], 'the snapshot on another server has alice')
  t.same((await alice.next('user-joined-space')).payload, { userId: 'bob', username: 'BOB', ...(bobJoined.spawn as object) })
  const carolJoined = await carol.join('plaza', token('carol'))
  t.same((carolJoined.users as Array<{ userId: string }>).map((u) => u.userId).sort(), ['alice', 'bob'])
  await alice.next('user-joined-space')
  await bob.next('user-joined')

  // Each walks right and back, five steps; everyone else must see exactly those, in order.
  const clients = { alice, bob, carol }
  const spawns: Record<string, { x: number, y: number }> = { alice: a, bob: bobJoined.spawn as { x: number, y: number }, carol: carolJoined.spawn as { x: number, y: number } }
  const walks: Record<string, Array<{ x: number, y: number }>> = {}
  for (const [name, client] of Object.entries(clients)) {
    const { x, y } = spawns[name] as { x: number, y: number }
    const dx = x + 2 < 20 ? 1 : -1
    walks[name] = [1, 2, 1, 0, 1].map((k) => ({ x: x + dx * k, y }))
    for (const step of walks[name] ?? []) client.send({ type: 'move', payload: step })
  }
  for (const [name, client] of Object.entries(clients)) {
    const seen: Record<string, Array<{ x: number, y: number }>> = {}
    for (let i = 0; i < 10; i++) {
      const frame: Frame = await client.next(moveType(client), 5000)
      const { userId, x, y } = frame.payload as { userId: string, x: number, y: number }
      seen[userId] = [...(seen[userId] ?? []), { x, y }]
    }
    const others = Object.keys(clients).filter((n) => n !== name)
    t.same(Object.keys(seen).sort(), others, `${name} hears the others' moves and not their own`)
    for (const other of others) t.same(seen[other], walks[other], `${name} sees ${other}'s five steps once each, in order`)
    t.same(await client.unread(300), [], `${name} hears nothing more: no duplicates`)
  }
})

t.test('a join sees users of other servers where they stand now, not where they joined', async (t) => {
  // Positions reach Redis only at shutdown: whatever the joiner sees comes from the other server.
  const { servers: [s1, s2] } = await cluster(t, 2, { POSITION_FLUSH_MS: 60_000 }) as unknown as { servers: [ServerProcess, ServerProcess] }
  await defineSpace(s1, 'hall', { width: 30, height: 3 })
  const alice = await connect(t, s1)
  const start = (await alice.join('hall', token('alice'))).spawn as { x: number, y: number }
  const dx = start.x + 3 < 30 ? 1 : -1
  for (let k = 1; k <= 3; k++) alice.send({ type: 'move', payload: { x: start.x + dx * k, y: start.y } })
  await new Promise((resolve) => setTimeout(resolve, 200))

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

t.test('a second connection on another server takes the avatar over: 4009 there, peers see nothing', async (t) => {
  const { servers: [s1, s2, s3], shared } = await cluster(t, 3) as unknown as { servers: [ServerProcess, ServerProcess, ServerProcess], shared: Isolation }
  await defineSpace(s1, 'room', { width: 10, height: 10 })
  const first = await connect(t, s1)
  const bob = await connect(t, s3, 'metaverse')
  const spawn = (await first.join('room', token('alice'))).spawn as { x: number, y: number }
  await bob.join('room', token('bob'))
  await first.next('user-joined-space')

  const second = await connect(t, s2)
  const joined = await second.join('room', token('alice'))
  t.equal(joined.resumed, true)
  t.same(joined.spawn, spawn, 'the avatar stays where it stood')
  t.same((await first.next('error', 3000)).payload, { code: 'replaced', message: 'replaced by a newer connection of the same user', close: 4009 })
  t.equal((await first.closed).code, 4009)
  t.same(await bob.unread(400), [], 'peers see no leave and no join')

  const step = { x: spawn.x + (spawn.x + 1 < 10 ? 1 : -1), y: spawn.y }
  second.send({ type: 'move', payload: step })
  t.same((await bob.next('movement', 3000)).payload, { userId: 'alice', ...step }, 'the new connection moves the same avatar')
  const stored = await settle(() => entry(shared, 'room', 'alice'), (e) => e.x === step.x)
  t.match(stored, { x: step.x, connected: true }, 'Redis has one entry for alice, connected, where she is')
})

t.test('a killed server is noticed: its users become ghosts, peers are told, and they resume elsewhere', async (t) => {
  const { servers: [s1, s2], shared } = await cluster(t, 2) as unknown as { servers: [ServerProcess, ServerProcess], shared: Isolation }
  await defineSpace(s1, 'room', { width: 10, height: 10 })
  const alice = await connect(t, s1)
  const bob = await connect(t, s2)
  const carol = await connect(t, s2, 'metaverse')
  const spawn = (await alice.join('room', token('alice'))).spawn as { x: number, y: number }
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
  t.same(await bob.unread(500), [], 'told once')

  const back = await connect(t, s2)
  const resumed = await back.join('room', token('alice'))
  t.equal(resumed.resumed, true)
  t.same(resumed.spawn, step, 'she resumes on another server at her last persisted position')
  t.same((await bob.next('user-joined-space')).payload, { userId: 'alice', username: 'ALICE', ...step })
})

t.test('space definitions changed on one server reach the others within a second', async (t) => {
  const { servers: [s1, s2] } = await cluster(t, 2) as unknown as { servers: [ServerProcess, ServerProcess] }
  await defineSpace(s1, 'room', { width: 10, height: 1 })
  const alice = await connect(t, s1)
  const spawn = (await alice.join('room', token('alice'))).spawn as { x: number, y: number }
  const next = { x: spawn.x + (spawn.x + 1 < 10 ? 1 : -1), y: 0 }

  t.equal(await defineSpace(s2, 'room', { width: 10, height: 1, obstacles: [next] }), 200, 'redefined through the other server')
  // The promise is "within a second": a second later, the other server judges by the new definition.
  await new Promise((resolve) => setTimeout(resolve, 1000))
  alice.send({ type: 'move', payload: next })
  const blocked = (await alice.next('move-rejected', 2000)).payload
  t.same(blocked, { ...spawn, reason: 'blocked' }, 'the next move is judged by the new definition')

  const deleted = await fetch(`${s2.http}/admin/spaces/room`, { method: 'DELETE', headers: { authorization: admin.authorization } })
  t.equal(deleted.status, 204)
  t.match((await alice.waitFor('error', 1000)).payload, { code: 'unknown-space', close: 4004 })
  t.equal((await alice.closed).code, 4004, 'users of a space deleted through another server are closed with 4004')
})

t.test('a server subscribes to a space only while it has users there', async (t) => {
  const { servers: [s1], shared } = await cluster(t, 1)
  await defineSpace(s1 as ServerProcess, 'room', { width: 5, height: 5 })
  const channel = `${shared.prefix}plaza:space:room`
  const subscribers = async (): Promise<number> => Number(((await shared.redis.pubsub('NUMSUB', channel)) as [string, number])[1])
  t.equal(await subscribers(), 0, 'nobody there, no subscription')
  const alice = await connect(t, s1 as ServerProcess)
  await alice.join('room', token('alice'))
  t.equal(await subscribers(), 1, 'subscribed while alice is there')
  alice.send({ type: 'leave', payload: {} })
  t.equal(await settle(subscribers, (n) => n === 0), 0, 'unsubscribed when the last user left')
})

t.test('SIGTERM on one server: its users become ghosts and peers on the others hear the drop; stats count across servers', async (t) => {
  const { servers: [s1, s2] } = await cluster(t, 2) as unknown as { servers: [ServerProcess, ServerProcess] }
  await defineSpace(s1, 'room', { width: 10, height: 10 })
  const alice = await connect(t, s1)
  const bob = await connect(t, s2)
  await alice.join('room', token('alice'))
  await bob.join('room', token('bob'))
  await alice.next(joinType(alice))

  const stats = await settle(async () => (await (await fetch(`${s2.http}/admin/stats`, { headers: { authorization: admin.authorization } })).json()) as {
    totalUsers: number
    cluster: { connectedUsers: number, ghostUsers: number }
  }, (s) => s.cluster.connectedUsers === 2)
  t.equal(stats.totalUsers, 1, 'local: this server\'s own users')
  t.match(stats.cluster, { connectedUsers: 2, ghostUsers: 0 }, 'cluster: both servers\' users')

  s1.child.kill('SIGTERM')
  t.equal((await alice.closed).code, 1001)
  t.same((await bob.next('user-disconnected', 3000)).payload, { userId: 'alice' })
  await s1.exited
  t.same(await bob.unread(1500), [], 'told once, not again when the server is found gone')
})

t.test('the same user joining two servers at the same moment ends with one avatar', async (t) => {
  const { servers: [s1, s2, s3], shared } = await cluster(t, 3) as unknown as { servers: [ServerProcess, ServerProcess, ServerProcess], shared: Isolation }
  await defineSpace(s1, 'room', { width: 10, height: 10 })
  const carol = await connect(t, s3)
  await carol.join('room', token('carol'))
  const [first, second] = await Promise.all([connect(t, s1), connect(t, s2)])
  first.send({ type: 'join', payload: { spaceId: 'room', token: token('alice') } })
  second.send({ type: 'join', payload: { spaceId: 'room', token: token('alice') } })
  // One of the two is closed with 4009; the other keeps the avatar.
  const closed = await Promise.race([first.closed.then((c) => ({ loser: first, winner: second, ...c })), second.closed.then((c) => ({ loser: second, winner: first, ...c }))])
  t.equal(closed.code, 4009, 'the earlier claim is taken over')
  await closed.winner.waitFor('space-joined')
  t.equal(closed.winner.socket.readyState, 1, 'the later one stays')
  const stored = await settle(() => entry(shared, 'room', 'alice'), (e) => e.connected === true)
  t.equal(stored.connected, true)
  // Carol ends up seeing one alice, where the winner stands: its moves reach her.
  const at = (closed.winner.received.find((f) => f.type === 'space-joined')?.payload.spawn ?? { x: 0, y: 0 }) as { x: number, y: number }
  const step = { x: at.x + (at.x + 1 < 10 ? 1 : -1), y: at.y }
  closed.winner.send({ type: 'move', payload: step })
  const moved = await carol.waitFor('user-moved', 3000)
  t.same(moved.payload, { userId: 'alice', ...step })
  t.ok(await shared.redis.hget(`${shared.prefix}space:room:owners`, 'alice'), 'Redis names the server that holds the avatar')
})
