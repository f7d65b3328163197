import t from 'tap'
import { settle } from './helpers/app.js'
import type { Frame } from './helpers/client.js'
import { ADMIN, connect, defineSpace, entry, moveType, startCluster, token } from './helpers/cluster.js'

/**
 * Several Plaza processes on one Redis behave as one: what users on different servers
 * see of each other. The three servers are shared by the tests of this file, each test in a space
 * of its own; none is killed here (cluster-failure.test.ts kills them), so liveness runs at the
 * default pace, which no stall on a busy machine mistakes for a death.
 */

type Point = { x: number, y: number }

const { servers: [s1, s2, s3], shared } = await startCluster(t, 3, { SERVER_HEARTBEAT_MS: 2000, SERVER_DEAD_AFTER_MS: 6000 })

t.test('users on three servers share a space: joins and every move reach every peer once, in order', async (t) => {
  t.equal(await defineSpace(s1, 'plaza', { width: 20, height: 3 }), 201)
  const alice = await connect(t, s1, 'plaza.v1')
  const bob = await connect(t, s2, 'metaverse')
  const carol = await connect(t, s3, 'plaza.v1')

  const a = (await alice.join('plaza', token('alice'))).spawn as Point
  const bobJoined = await bob.join('plaza', token('bob'))
  t.same(bobJoined.users, [{ userId: 'alice', x: a.x, y: a.y }], 'the snapshot on another server has alice')
  t.same((await alice.next('user-joined-space')).payload, { userId: 'bob', username: 'BOB', ...(bobJoined.spawn as object) })
  const carolJoined = await carol.join('plaza', token('carol'))
  t.same((carolJoined.users as Array<{ userId: string }>).map((u) => u.userId).sort(), ['alice', 'bob'])
  await alice.next('user-joined-space')
  await bob.next('user-joined')

  // Each walks right and back, five steps; everyone else must see exactly those, in order.
  const clients = { alice, bob, carol }
  const spawns: Record<string, Point> = { alice: a, bob: bobJoined.spawn as Point, carol: carolJoined.spawn as Point }
  const walks: Record<string, Point[]> = {}
  for (const [name, client] of Object.entries(clients)) {
    const { x, y } = spawns[name] as Point
    const dx = x + 2 < 20 ? 1 : -1
    walks[name] = [1, 2, 1, 0, 1].map((k) => ({ x: x + dx * k, y }))
    for (const step of walks[name] ?? []) client.send({ type: 'move', payload: step })
  }
  /** The next `count` moves `client` hears, by mover. */
  const movesHeard = async (client: typeof alice, count: number): Promise<Record<string, Point[]>> => {
    const seen: Record<string, Point[]> = {}
    for (let i = 0; i < count; i++) {
      const frame: Frame = await client.next(moveType(client), 5000)
      const { userId, x, y } = frame.payload as Point & { userId: string }
      seen[userId] = [...(seen[userId] ?? []), { x, y }]
    }
    return seen
  }
  for (const [name, client] of Object.entries(clients)) {
    const seen = await movesHeard(client, 10)
    const others = Object.keys(clients).filter((n) => n !== name)
    t.same(Object.keys(seen).sort(), others, `${name} hears the others' moves and not their own`)
    for (const other of others) t.same(seen[other], walks[other], `${name} sees ${other}'s five steps once each, in order`)
  }
  // No duplicates: each steps back to where it spawned. A duplicate of a walk's step would come
  // before that step (a server's events reach another server in the order it published them).
  for (const [name, client] of Object.entries(clients)) client.send({ type: 'move', payload: spawns[name] })
  for (const [name, client] of Object.entries(clients)) {
    const others = Object.keys(clients).filter((n) => n !== name)
    t.same(await movesHeard(client, 2), Object.fromEntries(others.map((o) => [o, [spawns[o]]])), `${name}: the next moves are the last steps, no duplicate before them`)
    t.same(await client.quiet(), [], `${name} hears nothing more`)
  }
})

t.test('a second connection on another server takes the avatar over: 4009 there, peers see nothing', async (t) => {
  await defineSpace(s1, 'room', { width: 10, height: 10 })
  const first = await connect(t, s1)
  const bob = await connect(t, s3, 'metaverse')
  const spawn = (await first.join('room', token('alice'))).spawn as Point
  await bob.join('room', token('bob'))
  await first.next('user-joined-space')

  const second = await connect(t, s2)
  const joined = await second.join('room', token('alice'))
  t.equal(joined.resumed, true)
  t.same(joined.spawn, spawn, 'the avatar stays where it stood')
  t.same((await first.next('error', 3000)).payload, { code: 'replaced', message: 'replaced by a newer connection of the same user', close: 4009 })
  t.equal((await first.closed).code, 4009)

  // The new connection moves the same avatar. Bob's next frame is that move: a leave or join told
  // by either server would have been published before it (server 1's before it closed the socket).
  const step = { x: spawn.x + (spawn.x + 1 < 10 ? 1 : -1), y: spawn.y }
  second.send({ type: 'move', payload: step })
  t.same(await bob.next(undefined, 3000), { type: 'movement', payload: { userId: 'alice', ...step } }, 'peers see no leave and no join, only the move')
  const stored = await settle(() => entry(shared, 'room', 'alice'), (e) => e.x === step.x)
  t.match(stored, { x: step.x, connected: true }, 'Redis has one entry for alice, connected, where she is')
})

t.test('a take-over with a new username renames the avatar: peers who join later, on any server, see the new name', async (t) => {
  const cases = [['on another server', s2, 'renamed-elsewhere'], ['on the same server', s1, 'renamed-here']] as const
  for (const [where, takingOver, spaceId] of cases) {
    await t.test(where, async (t) => {
      await defineSpace(s1, spaceId, { width: 10, height: 10 })
      const first = await connect(t, s1)
      const spawn = (await first.join(spaceId, token('alice', 'Alice'))).spawn as Point
      // Bob, on a third server, knew her by her first name.
      const bob = await connect(t, s3)
      await bob.join(spaceId, token('bob'))
      await first.next('user-joined-space')

      const second = await connect(t, takingOver)
      await second.join(spaceId, token('alice', 'Alice Liddell'))
      t.equal((await first.closed).code, 4009)
      // A step shows every server has heard of the take-over, which was published before it.
      const step = { x: spawn.x + (spawn.x + 1 < 10 ? 1 : -1), y: spawn.y }
      second.send({ type: 'move', payload: step })
      t.same((await bob.next('user-moved', 3000)).payload, { userId: 'alice', ...step })

      // Bob's server first: a join elsewhere would make it ask the others for their rosters.
      for (const [server, userId] of [[s3, 'carol'], [s2, 'dave'], [s1, 'erin']] as const) {
        const late = await connect(t, server)
        const users = (await late.join(spaceId, token(userId))).users as Array<{ userId: string, username: string }>
        t.equal(users.find((u) => u.userId === 'alice')?.username, 'Alice Liddell', `a peer joining on ${server.id} sees the new name`)
      }
      const stored = await settle(() => entry(shared, spaceId, 'alice'), (e) => e.username === 'Alice Liddell')
      t.equal(stored.username, 'Alice Liddell', 'Redis has the new name')
    })
  }
})

t.test('space definitions changed on one server reach the others within a second', async (t) => {
  await defineSpace(s1, 'reshaped', { width: 10, height: 1 })
  const alice = await connect(t, s1)
  const spawn = (await alice.join('reshaped', token('alice'))).spawn as Point
  const below = { x: spawn.x, y: 1 }
  alice.send({ type: 'move', payload: below })
  t.same((await alice.next('move-rejected')).payload, { ...spawn, reason: 'out-of-bounds' }, 'premise: one row, nothing below')

  // Redefined through another server: a second row, with an obstacle just below alice. Each probe
  // is refused either way, and says by which definition it was judged.
  t.equal(await defineSpace(s2, 'reshaped', { width: 10, height: 2, obstacles: [below] }), 200, 'redefined through the other server')
  const redefinedAt = Date.now()
  let reason: unknown
  while (reason !== 'blocked' && Date.now() - redefinedAt < 5000) {
    alice.send({ type: 'move', payload: below })
    reason = (await alice.next('move-rejected')).payload.reason
    if (reason !== 'blocked') await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const took = Date.now() - redefinedAt
  t.equal(reason, 'blocked', 'the next moves are judged by the new definition')
  t.ok(took < 1000, `within a second (${took} ms)`)

  const deleted = await fetch(`${s2.http}/admin/spaces/reshaped`, { method: 'DELETE', headers: { authorization: ADMIN.authorization } })
  t.equal(deleted.status, 204)
  t.match((await alice.waitFor('error', 3000)).payload, { code: 'unknown-space', close: 4004 })
  t.equal((await alice.closed).code, 4004, 'users of a space deleted through another server are closed with 4004')
})

t.test('a server subscribes to a space only while it has users there', async (t) => {
  await defineSpace(s1, 'quiet', { width: 5, height: 5 })
  const channel = `${shared.prefix}plaza:space:quiet`
  const subscribers = async (): Promise<number> => Number(((await shared.redis.pubsub('NUMSUB', channel)) as [string, number])[1])
  t.equal(await subscribers(), 0, 'nobody there, no subscription')
  const alice = await connect(t, s1)
  await alice.join('quiet', token('alice'))
  t.equal(await subscribers(), 1, 'subscribed while alice is there, by her server only')
  alice.send({ type: 'leave', payload: {} })
  t.equal(await settle(subscribers, (n) => n === 0), 0, 'unsubscribed when the last user left')
})

t.test('the same user joining two servers at the same moment ends with one avatar', async (t) => {
  await defineSpace(s1, 'race', { width: 10, height: 10 })
  const carol = await connect(t, s3)
  await carol.join('race', token('carol'))
  const [first, second] = await Promise.all([connect(t, s1), connect(t, s2)])
  first.send({ type: 'join', payload: { spaceId: 'race', token: token('alice') } })
  second.send({ type: 'join', payload: { spaceId: 'race', token: token('alice') } })
  // One of the two is closed with 4009; the other keeps the avatar.
  const closed = await Promise.race([first.closed.then((c) => ({ loser: first, winner: second, ...c })), second.closed.then((c) => ({ loser: second, winner: first, ...c }))])
  t.equal(closed.code, 4009, 'the earlier claim is taken over')
  await closed.winner.waitFor('space-joined')
  t.equal(closed.winner.socket.readyState, 1, 'the later one stays')
  const stored = await settle(() => entry(shared, 'race', 'alice'), (e) => e.connected === true)
  t.equal(stored.connected, true)
  // Carol ends up seeing one alice, where the winner stands: its moves reach her.
  const at = (closed.winner.received.find((f) => f.type === 'space-joined')?.payload.spawn ?? { x: 0, y: 0 }) as Point
  const step = { x: at.x + (at.x + 1 < 10 ? 1 : -1), y: at.y }
  closed.winner.send({ type: 'move', payload: step })
  const moved = await carol.waitFor('user-moved', 3000)
  t.same(moved.payload, { userId: 'alice', ...step })
  t.ok(await shared.redis.hget(`${shared.prefix}space:race:owners`, 'alice'), 'Redis names the server that holds the avatar')
})
