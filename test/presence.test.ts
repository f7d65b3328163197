import t, { type Test } from 'tap'
import { ADMIN_TOKEN, isolate, settle, startApp, type TestApp } from './helpers/app.js'
import { TestClient, neighbour } from './helpers/client.js'
import { freePort } from './helpers/process.js'

/**
 * Presence in Redis and its lifecycle (PROTOCOL §3, §3.1, §4, §5, §6): what `space:{spaceId}:users`
 * holds after each step, ghosts, resumes, take-overs, restarts, the merged join snapshot, spawns,
 * refreshes, and a server that starts without Redis. The store's own batching and flushes are in
 * presence-store.test.ts.
 */

interface Tile { x: number, y: number }
type Entry = Record<string, unknown>

const tileOf = (payload: Record<string, unknown>): Tile => payload.spawn as Tile
const usersOf = (payload: Record<string, unknown>): Entry[] => payload.users as Entry[]
/** Positions and names only: activity (lastActive, idle) is tested in room-manager and chat-cluster tests. */
const placesOf = (payload: Record<string, unknown>): Entry[] => usersOf(payload).map(({ lastActive: _a, idle: _i, ...rest }) => rest)
const byUserId = (a: Entry, b: Entry): number => String(a.userId).localeCompare(String(b.userId))

/** Opens a client and closes it when the test ends. */
async function connect (t: Test, plaza: TestApp, protocol: 'plaza.v1' | 'metaverse', path = '/ws'): Promise<TestClient> {
  const client = await TestClient.connect(`${plaza.wsBase}${path}`, protocol)
  t.teardown(() => client.close())
  return client
}

/** One entry of `space:{spaceId}:users`, or undefined. */
async function entryOf (plaza: TestApp, spaceId: string, userId: string): Promise<Entry | undefined> {
  return (await plaza.usersInRedis(spaceId))[userId]
}

/** Writes an entry into the users hash by hand, as another server (or an older Plaza) would. */
async function writeEntry (plaza: TestApp, spaceId: string, userId: string, entry: Entry): Promise<void> {
  await plaza.redis.hset(`${plaza.prefix}space:${spaceId}:users`, userId, JSON.stringify(entry))
}

t.test('the users hash follows a user through join, move, drop and leave, with its TTL', async (t) => {
  const plaza = await startApp(t, { POSITION_FLUSH_MS: 20 })
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const key = `${plaza.prefix}space:hall:users`

  // join → an entry at the spawn, connected.
  const alice = await connect(t, plaza, 'plaza.v1')
  const before = Date.now()
  const joined = await alice.join('hall', plaza.token({ userId: 'alice', username: 'Alice' }))
  const spawn = tileOf(joined)
  const atJoin = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e !== undefined)
  t.ok(atJoin !== undefined, 'the joiner is in Redis')
  t.match(atJoin, { username: 'Alice', x: spawn.x, y: spawn.y, connectionId: String, lastUpdated: Number, connected: true },
    'join → {username, x, y, connectionId, lastUpdated, connected: true} at the spawn')
  t.ok(typeof atJoin?.connectionId === 'string' && atJoin.connectionId !== '', 'connectionId is a non-empty string')
  t.ok((atJoin?.lastUpdated as number) >= before - 1000 && (atJoin?.lastUpdated as number) <= Date.now() + 1000,
    'lastUpdated is ms since epoch, now')
  const ttl = await plaza.redis.ttl(key)
  t.ok(ttl > 3600 - 60 && ttl <= 3600, `the hash expires USER_STATE_TTL_S (3600 s) after the write (ttl ${ttl})`)

  // move → x, y updated within POSITION_FLUSH_MS, and the TTL refreshed.
  await plaza.redis.expire(key, 100)
  t.ok(await plaza.redis.ttl(key) <= 100, 'premise: the TTL was shortened by hand')
  const step = neighbour(spawn.x, spawn.y, 10)
  alice.send({ type: 'move', payload: step })
  const moved = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e?.x === step.x && e.y === step.y)
  t.match(moved, { username: 'Alice', x: step.x, y: step.y, connected: true }, 'move → x, y updated')
  t.ok((moved?.lastUpdated as number) >= (atJoin?.lastUpdated as number), 'lastUpdated does not go back')
  const ttlAfterMove = await settle(() => plaza.redis.ttl(key), (s) => s > 3600 - 60)
  t.ok(ttlAfterMove > 3600 - 60 && ttlAfterMove <= 3600, `a move refreshes the TTL (ttl ${ttlAfterMove})`)
  t.same(await alice.quiet(), [], 'the move was accepted silently')

  // drop → the entry stays, disconnected, at the last position.
  await alice.close()
  const dropped = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e?.connected === false)
  t.match(dropped, { username: 'Alice', x: step.x, y: step.y, connected: false }, 'drop → a ghost at its last position')
  t.ok((dropped?.lastUpdated as number) >= (moved?.lastUpdated as number), 'the drop is a write: lastUpdated not older')

  // rejoin, then leave → the entry is gone.
  const again = await connect(t, plaza, 'plaza.v1')
  const rejoined = await again.join('hall', plaza.token({ userId: 'alice', username: 'Alice' }))
  t.same(tileOf(rejoined), step, 'premise: resumed at the ghost position')
  await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e?.connected === true)
  again.send({ type: 'leave', payload: {} })
  const afterLeave = await settle(() => plaza.usersInRedis('hall'), (users) => !('alice' in users))
  t.same(afterLeave, {}, 'leave → the entry is gone')
})

t.test('a drop leaves a ghost: plaza.v1 peers hear user-disconnected, metaverse peers user-left', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const alice = await connect(t, plaza, 'plaza.v1')
  const bob = await connect(t, plaza, 'plaza.v1')
  const carol = await connect(t, plaza, 'metaverse', '/')

  const aliceJoined = await alice.join('hall', plaza.token({ userId: 'alice', username: 'Alice' }))
  const bobJoined = await bob.join('hall', plaza.token({ userId: 'bob', username: 'Bob' }))
  const carolJoined = await carol.join('hall', plaza.token({ userId: 'carol' }))
  await bob.next('user-joined-space')
  const step = neighbour(tileOf(aliceJoined).x, tileOf(aliceJoined).y, 10)
  alice.send({ type: 'move', payload: step })
  t.same((await bob.next('user-moved')).payload, { userId: 'alice', ...step })
  t.same((await carol.next('movement')).payload, { userId: 'alice', ...step })

  await alice.close()
  t.same(await bob.next(), { type: 'user-disconnected', payload: { userId: 'alice' } }, 'plaza.v1 peers get user-disconnected')
  t.same(await carol.next(), { type: 'user-left', payload: { userId: 'alice' } }, 'metaverse peers get user-left')
  t.same(await bob.quiet(), [], 'nothing else for plaza.v1 peers (no user-left: the ghost stays)')
  t.same(await carol.quiet(), [], 'nothing else for metaverse peers')

  // A later plaza.v1 joiner sees the ghost, disconnected, at its last position.
  const dave = await connect(t, plaza, 'plaza.v1')
  const daveJoined = await dave.join('hall', plaza.token({ userId: 'dave', username: 'Dave' }))
  t.same(placesOf(daveJoined).sort(byUserId), [
    { userId: 'alice', username: 'Alice', x: step.x, y: step.y, connected: false },
    { userId: 'bob', username: 'Bob', ...tileOf(bobJoined), connected: true },
    { userId: 'carol', username: 'carol', ...tileOf(carolJoined), connected: true }
  ], 'plaza.v1 space-joined lists the ghost with connected:false')

  // A metaverse joiner knows no ghosts.
  const erin = await connect(t, plaza, 'metaverse', '/')
  const erinJoined = await erin.join('hall', plaza.token({ userId: 'erin' }))
  t.same(usersOf(erinJoined).sort(byUserId), [
    { userId: 'bob', ...tileOf(bobJoined) },
    { userId: 'carol', ...tileOf(carolJoined) },
    { userId: 'dave', ...tileOf(daveJoined) }
  ], 'metaverse space-joined lists connected users only')
})

t.test('a ghost that rejoins resumes at its stored position and peers see it join', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const alice = await connect(t, plaza, 'plaza.v1')
  const bob = await connect(t, plaza, 'plaza.v1')
  const carol = await connect(t, plaza, 'metaverse', '/')
  const token = plaza.token({ userId: 'alice', username: 'Alice' })

  const first = await alice.join('hall', token)
  t.equal(first.resumed, false, 'a first join is not a resume')
  await bob.join('hall', plaza.token({ userId: 'bob' }))
  await carol.join('hall', plaza.token({ userId: 'carol' }))
  const step = neighbour(tileOf(first).x, tileOf(first).y, 10)
  alice.send({ type: 'move', payload: step })
  await bob.waitFor('user-moved')
  await carol.waitFor('movement')
  await alice.close()
  await bob.next('user-disconnected')
  await carol.next('user-left')

  const back = await connect(t, plaza, 'plaza.v1')
  const resumed = await back.join('hall', token)
  t.equal(resumed.resumed, true, 'resumed: true')
  t.same(tileOf(resumed), step, 'spawn is the stored position')
  t.notOk(usersOf(resumed).some((u) => u.userId === 'alice'), 'the joiner is not in its own list')
  t.same(await bob.next(), { type: 'user-joined-space', payload: { userId: 'alice', username: 'Alice', ...step } },
    'plaza.v1 peers get user-joined-space')
  t.same(await carol.next(), { type: 'user-joined', payload: { userId: 'alice', ...step } }, 'metaverse peers get user-joined')
  const entry = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e?.connected === true)
  t.match(entry, { x: step.x, y: step.y, connected: true }, 'connected again in Redis')
})

t.test('a user who dropped before a restart resumes on the new server where they were', async (t) => {
  const shared = isolate(t)
  const env = { POSITION_FLUSH_MS: 20 }
  const a = await startApp(t, env, shared)
  await a.defineSpace({ id: 'hall', width: 10, height: 10 })
  const token = a.token({ userId: 'alice', username: 'Alice' })

  const alice = await connect(t, a, 'plaza.v1')
  const joined = await alice.join('hall', token)
  const step = neighbour(tileOf(joined).x, tileOf(joined).y, 10)
  alice.send({ type: 'move', payload: step })
  t.same(await alice.quiet(), [], 'the move was accepted')
  await alice.close()
  await a.app.close()

  const b = await startApp(t, env, shared)
  const again = await connect(t, b, 'plaza.v1')
  const resumed = await again.join('hall', b.token({ userId: 'alice', username: 'Alice' }))
  t.equal(resumed.resumed, true, 'resumed: true on the new server')
  t.same(tileOf(resumed), step, 'at the position after the move')
  t.same(usersOf(resumed), [], 'nobody else, and not the joiner')
})

t.test('shutdown closes sockets with 1001 and leaves their users as ghosts at their last position', async (t) => {
  // Moves are flushed every minute only: just the flush at close can carry the last one.
  const plaza = await startApp(t, { POSITION_FLUSH_MS: 60_000 })
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const alice = await connect(t, plaza, 'plaza.v1')
  const bob = await connect(t, plaza, 'metaverse', '/')
  const joined = await alice.join('hall', plaza.token({ userId: 'alice', username: 'Alice' }))
  const bobJoined = await bob.join('hall', plaza.token({ userId: 'bob' }))
  await settle(() => plaza.usersInRedis('hall'), (users) => 'alice' in users && 'bob' in users)

  const step = neighbour(tileOf(joined).x, tileOf(joined).y, 10)
  alice.send({ type: 'move', payload: step })
  await bob.waitFor('movement') // the server has the move in memory
  await plaza.app.close()

  t.equal((await alice.closed).code, 1001, 'plaza.v1 socket closed with 1001')
  t.equal((await bob.closed).code, 1001, 'metaverse socket closed with 1001')
  const users = await settle(() => plaza.usersInRedis('hall'), (u) => u.alice?.connected === false && u.bob?.connected === false)
  t.match(users.alice, { username: 'Alice', x: step.x, y: step.y, connected: false }, 'alice is a ghost where she last moved')
  t.match(users.bob, { x: tileOf(bobJoined).x, y: tileOf(bobJoined).y, connected: false }, 'bob is a ghost at his spawn')
})

t.test('a second connection of a user takes the avatar over silently', async (t) => {
  const plaza = await startApp(t, { POSITION_FLUSH_MS: 20 })
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const token = plaza.token({ userId: 'alice', username: 'Alice' })
  const first = await connect(t, plaza, 'plaza.v1')
  const bob = await connect(t, plaza, 'plaza.v1')
  const carol = await connect(t, plaza, 'metaverse', '/')
  const joined = await first.join('hall', token)
  const bobJoined = await bob.join('hall', plaza.token({ userId: 'bob', username: 'Bob' }))
  await carol.join('hall', plaza.token({ userId: 'carol' }))
  await first.next('user-joined-space')
  await first.next('user-joined-space')
  await bob.next('user-joined-space')
  const before = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e !== undefined)

  const second = await connect(t, plaza, 'plaza.v1')
  const taken = await second.join('hall', token)
  t.equal(taken.resumed, true, 'the newer connection resumes')
  t.same(tileOf(taken), tileOf(joined), 'at the same position')
  t.same(usersOf(taken).map((u) => u.userId).sort(), ['bob', 'carol'], 'it sees the others, not itself')
  t.ok(usersOf(taken).some((u) => u.userId === 'bob' && u.x === tileOf(bobJoined).x && u.y === tileOf(bobJoined).y))

  const error = await first.next('error')
  t.equal(error.payload.code, 'replaced', 'the older connection is told it was replaced')
  t.equal(error.payload.close, 4009, 'with the close code that follows')
  t.equal(typeof error.payload.message, 'string')
  t.equal((await first.closed).code, 4009, 'then closed with 4009')

  t.same(await bob.quiet(), [], 'a plaza.v1 peer hears nothing: no leave, no join')
  t.same(await carol.quiet(), [], 'a metaverse peer hears nothing either')
  const after = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e?.connectionId !== before?.connectionId)
  t.match(after, { x: tileOf(joined).x, y: tileOf(joined).y, connected: true }, 'still connected in Redis, same position')
  t.not(after?.connectionId, before?.connectionId, 'now under the newer connection')

  // The avatar is the newer connection's: its moves reach the peers.
  const step = neighbour(tileOf(joined).x, tileOf(joined).y, 10)
  second.send({ type: 'move', payload: step })
  t.same((await bob.next('user-moved')).payload, { userId: 'alice', ...step })
})

t.test('a take-over works across dialects (metaverse first, plaza.v1 second)', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const token = plaza.token({ userId: 'alice' })
  const first = await connect(t, plaza, 'metaverse', '/')
  const bob = await connect(t, plaza, 'plaza.v1')
  const joined = await first.join('hall', token)
  await bob.join('hall', plaza.token({ userId: 'bob' }))
  await first.next('user-joined')

  const second = await connect(t, plaza, 'plaza.v1')
  const taken = await second.join('hall', token)
  t.equal(taken.resumed, true)
  t.same(tileOf(taken), tileOf(joined), 'at the same position')
  t.equal((await first.closed).code, 4009, 'the metaverse connection is closed with 4009')
  t.same(await first.unread(0), [], 'and hears no error frame (metaverse never does)')
  t.same(await bob.quiet(), [], 'the peer hears nothing')
})

t.test('a take-over with a new username renames the avatar: peers who join later see the new name', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const first = await connect(t, plaza, 'plaza.v1')
  const bob = await connect(t, plaza, 'plaza.v1')
  const spawn = tileOf(await first.join('hall', plaza.token({ userId: 'alice', username: 'Alice' })))
  t.same(placesOf(await bob.join('hall', plaza.token({ userId: 'bob' }))), [{ userId: 'alice', username: 'Alice', ...spawn, connected: true }], 'premise: known as Alice')

  const second = await connect(t, plaza, 'plaza.v1')
  t.equal((await second.join('hall', plaza.token({ userId: 'alice', username: 'Alice Liddell' }))).resumed, true, 'a take-over')
  t.equal((await first.closed).code, 4009)
  t.same(await bob.quiet(), [], 'silent for peers already there')

  const carol = await connect(t, plaza, 'plaza.v1')
  const users = placesOf(await carol.join('hall', plaza.token({ userId: 'carol' })))
  t.same(users.find((u) => u.userId === 'alice'), { userId: 'alice', username: 'Alice Liddell', ...spawn, connected: true }, 'a later joiner sees the new name')
  const stored = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e?.username === 'Alice Liddell')
  t.match(stored, { username: 'Alice Liddell', ...spawn, connected: true }, 'and so does Redis')
})

t.test('a ghost whose tile became an obstacle comes back fresh: resumed false, on a walkable tile', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall', width: 4, height: 4 })
  const alice = await connect(t, plaza, 'plaza.v1')
  const bob = await connect(t, plaza, 'plaza.v1')
  const token = plaza.token({ userId: 'alice', username: 'Alice' })
  const spawn = tileOf(await alice.join('hall', token))
  await bob.join('hall', plaza.token({ userId: 'bob' }))
  await alice.close()
  t.same((await bob.next()).payload, { userId: 'alice' }, 'alice dropped')
  t.match(await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e?.connected === false), { ...spawn, connected: false }, 'premise: a ghost at her spawn')

  // Redefined through the admin API: an obstacle on the ghost's tile.
  const put = await fetch(`${plaza.httpBase}/admin/spaces/hall`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ width: 4, height: 4, obstacles: [spawn] })
  })
  t.equal(put.status, 200, 'redefined')

  const back = await connect(t, plaza, 'plaza.v1')
  const joined = await back.join('hall', token)
  const at = tileOf(joined)
  t.equal(joined.resumed, false, 'not a resume: her tile is gone')
  t.not(`${at.x},${at.y}`, `${spawn.x},${spawn.y}`, 'she spawns elsewhere')
  t.same((joined.space as { obstacles: unknown[] }).obstacles.length, 1, 'by the new definition')
  t.ok(at.x >= 0 && at.x < 4 && at.y >= 0 && at.y < 4, `inside the space (${at.x}, ${at.y})`)
  t.same((await bob.next()).payload, { userId: 'alice', username: 'Alice', ...at }, 'peers see her join where she spawned')
  t.match(await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e?.connected === true), { ...at, connected: true }, 'and Redis has her there')
})

t.test('the same user may be in two different spaces at once', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'one', width: 10, height: 10 })
  await plaza.defineSpace({ id: 'two', width: 10, height: 10 })
  const token = plaza.token({ userId: 'alice' })
  const inOne = await connect(t, plaza, 'plaza.v1')
  const inTwo = await connect(t, plaza, 'plaza.v1')
  const one = await inOne.join('one', token)
  const two = await inTwo.join('two', token)
  t.equal(one.resumed, false)
  t.equal(two.resumed, false, 'no take-over: a fresh join in the other space')
  t.same(await inOne.quiet(), [], 'the first connection is not replaced')
  t.equal(inOne.socket.readyState, inOne.socket.OPEN, 'and stays open')
  const [a, b] = await settle(
    () => Promise.all([entryOf(plaza, 'one', 'alice'), entryOf(plaza, 'two', 'alice')]),
    ([x, y]) => x?.connected === true && y?.connected === true)
  t.match(a, { ...tileOf(one), connected: true }, 'in space one')
  t.match(b, { ...tileOf(two), connected: true }, 'and in space two')
})

t.test('space-joined merges memory and Redis: one entry per user, memory wins, never the joiner', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const alice = await connect(t, plaza, 'plaza.v1')
  const aliceJoined = await alice.join('hall', plaza.token({ userId: 'alice', username: 'Alice' }))
  const aliceAt = tileOf(aliceJoined)
  await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e !== undefined)

  // Other servers' users, written by hand: connected, a ghost, and an entry without `connected`.
  const now = Date.now()
  await writeEntry(plaza, 'hall', 'remote', { username: 'Remote', x: 2, y: 3, connectionId: 'elsewhere-1', lastUpdated: now, connected: true })
  await writeEntry(plaza, 'hall', 'ghost', { username: 'Ghost', x: 5, y: 6, connectionId: 'elsewhere-2', lastUpdated: now, connected: false })
  await writeEntry(plaza, 'hall', 'legacy', { username: 'Legacy', x: 7, y: 1, connectionId: 'elsewhere-3', lastUpdated: now })
  // A stale position for alice, who is connected here: memory must win.
  const stale = aliceAt.x === 9 ? { x: 8, y: aliceAt.y } : { x: 9, y: aliceAt.y }
  await writeEntry(plaza, 'hall', 'alice', { username: 'Stale Alice', ...stale, connectionId: 'old', lastUpdated: now - 60_000, connected: false })
  // The joiner itself, known from another server as a ghost: resumed, and never in its own list.
  await writeEntry(plaza, 'hall', 'bob', { username: 'Bob', x: 4, y: 4, connectionId: 'elsewhere-4', lastUpdated: now, connected: false })

  const bob = await connect(t, plaza, 'plaza.v1')
  const bobJoined = await bob.join('hall', plaza.token({ userId: 'bob', username: 'Bob' }))
  t.equal(bobJoined.resumed, true, 'the joiner resumes its stored position')
  t.same(tileOf(bobJoined), { x: 4, y: 4 })
  t.same(placesOf(bobJoined).sort(byUserId), [
    { userId: 'alice', username: 'Alice', x: aliceAt.x, y: aliceAt.y, connected: true },
    { userId: 'ghost', username: 'Ghost', x: 5, y: 6, connected: false },
    { userId: 'legacy', username: 'Legacy', x: 7, y: 1, connected: true },
    { userId: 'remote', username: 'Remote', x: 2, y: 3, connected: true }
  ], 'memory over Redis, one entry per userId, an entry without connected counts as connected, no bob')
  const legacy = usersOf(bobJoined).find((u) => u.userId === 'legacy')
  t.match(legacy, { lastActive: Number, idle: Boolean }, 'an entry written before activity was kept still gets lastActive (its lastUpdated) and idle')

  const carol = await connect(t, plaza, 'metaverse', '/')
  const carolJoined = await carol.join('hall', plaza.token({ userId: 'carol' }))
  t.same(usersOf(carolJoined).sort(byUserId), [
    { userId: 'alice', ...aliceAt },
    { userId: 'bob', x: 4, y: 4 },
    { userId: 'legacy', x: 7, y: 1 },
    { userId: 'remote', x: 2, y: 3 }
  ], 'metaverse: the same merge, connected users only, no carol')
})

t.test('spawns avoid obstacles and occupied tiles', async (t) => {
  const plaza = await startApp(t)
  // 3x3 with three obstacles: six free tiles; one of them is held by another server's user.
  const obstacles = [{ x: 0, y: 0 }, { x: 2, y: 0 }, { x: 1, y: 1 }]
  await plaza.app.spaces.put({ id: 'tiny', width: 3, height: 3, obstacles: obstacles.map((o) => ({ ...o, width: 1, height: 1 })) })
  await writeEntry(plaza, 'tiny', 'remote', { username: 'Remote', x: 2, y: 2, connectionId: 'elsewhere', lastUpdated: Date.now(), connected: true })
  const blocked = new Set(obstacles.map((o) => `${o.x},${o.y}`))
  const free = ['1,0', '0,1', '2,1', '0,2', '1,2']

  const spawns: string[] = []
  for (let i = 0; i < free.length; i++) {
    const client = await connect(t, plaza, 'plaza.v1')
    const joined = await client.join('tiny', plaza.token({ userId: `user${i}` }))
    const { x, y } = tileOf(joined)
    t.notOk(blocked.has(`${x},${y}`), `user${i} spawned at (${x}, ${y}), not on an obstacle`)
    t.notOk(spawns.includes(`${x},${y}`) || `${x},${y}` === '2,2', `user${i}'s tile is not occupied`)
    spawns.push(`${x},${y}`)
  }
  t.same([...spawns].sort(), [...free].sort(), 'five joiners took the five free tiles, one each')
})

t.test('connected users are refreshed in Redis while idle', async (t) => {
  // STALE_USER_MS 900: the server refreshes at least every 300 ms.
  const plaza = await startApp(t, { STALE_USER_MS: 900, POSITION_FLUSH_MS: 20 })
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const alice = await connect(t, plaza, 'plaza.v1')
  const joined = await alice.join('hall', plaza.token({ userId: 'alice' }))
  const first = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e !== undefined)
  const firstAt = first?.lastUpdated as number
  t.equal(typeof firstAt, 'number')

  // Two refreshes at least, read as soon as they land.
  const later = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => (e?.lastUpdated as number) >= firstAt + 600, 5000)
  const age = Date.now() - (later?.lastUpdated as number)
  t.ok((later?.lastUpdated as number) >= firstAt + 600, `lastUpdated advanced without a move (${firstAt} → ${String(later?.lastUpdated)})`)
  t.match(later, { ...tileOf(joined), connected: true }, 'same position, still connected')
  t.ok(age < 900, `lastUpdated is never older than STALE_USER_MS (${age} ms)`)
})

t.test('without Redis the server boots and serves a space from memory', async (t) => {
  // A port nobody listens on: bound by the system a moment ago, then let go.
  const plaza = await startApp(t, { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_CONNECT_TIMEOUT_MS: 200 })
  await plaza.app.spaces.put({ id: 'offline', width: 6, height: 6, obstacles: [] })
  const alice = await connect(t, plaza, 'plaza.v1')
  const bob = await connect(t, plaza, 'metaverse', '/')
  const aliceJoined = await alice.join('offline', plaza.token({ userId: 'alice', username: 'Alice' }))
  t.same(usersOf(aliceJoined), [])
  const bobJoined = await bob.join('offline', plaza.token({ userId: 'bob' }))
  t.same(usersOf(bobJoined), [{ userId: 'alice', ...tileOf(aliceJoined) }], 'bob sees alice')
  t.same((await alice.next('user-joined-space')).payload, { userId: 'bob', username: 'bob', ...tileOf(bobJoined) }, 'alice sees bob')

  const aliceStep = neighbour(tileOf(aliceJoined).x, tileOf(aliceJoined).y, 6)
  alice.send({ type: 'move', payload: aliceStep })
  t.same((await bob.next('movement')).payload, { userId: 'alice', ...aliceStep })
  const bobStep = neighbour(tileOf(bobJoined).x, tileOf(bobJoined).y, 6)
  bob.send({ type: 'move', payload: bobStep })
  t.same((await alice.next('user-moved')).payload, { userId: 'bob', ...bobStep })
})

t.test('a 2d-metaverse token {userId: 42, role} joins over metaverse and is stored as field "42"', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const client = await connect(t, plaza, 'metaverse', '/')
  const joined = await client.join('hall', plaza.token({ userId: 42, role: 'user' }))
  t.equal(joined.userId, '42', 'the userId is a string on the wire')
  const users = await settle(() => plaza.usersInRedis('hall'), (u) => '42' in u)
  t.same(Object.keys(users), ['42'], 'one field, "42"')
  t.match(users['42'], { username: '42', ...tileOf(joined), connected: true }, 'username falls back to the userId')
})
