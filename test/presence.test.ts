import { once } from 'node:events'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { redisKeys } from '../src/keys.js'
import type { Logger } from '../src/logger.js'
import { RedisPresenceStore } from '../src/presence/redis-store.js'
import type { PresenceRecord } from '../src/presence/store.js'
import { UNPIPELINED_COMMANDS } from '../src/scripts/index.js'
import { isolate, REDIS_URL, settle, startApp, type TestApp } from './helpers/app.js'
import { PrivateRedis } from './helpers/private-redis.js'
import { TestClient, neighbour } from './helpers/client.js'

/**
 * Presence in Redis and its lifecycle (PROTOCOL §3, §3.1, §4, §5, §6): what `space:{spaceId}:users`
 * holds after each step, ghosts, resumes, take-overs, restarts, the merged join snapshot, spawns,
 * refreshes, and a server that starts without Redis.
 */

interface Tile { x: number, y: number }
type Entry = Record<string, unknown>

const tileOf = (payload: Record<string, unknown>): Tile => payload.spawn as Tile
const usersOf = (payload: Record<string, unknown>): Entry[] => payload.users as Entry[]
const byUserId = (a: Entry, b: Entry): number => String(a.userId).localeCompare(String(b.userId))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

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
  t.same(await alice.unread(), [], 'the move was accepted silently')

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
  t.same(await bob.unread(), [], 'nothing else for plaza.v1 peers (no user-left: the ghost stays)')
  t.same(await carol.unread(), [], 'nothing else for metaverse peers')

  // A later plaza.v1 joiner sees the ghost, disconnected, at its last position.
  const dave = await connect(t, plaza, 'plaza.v1')
  const daveJoined = await dave.join('hall', plaza.token({ userId: 'dave', username: 'Dave' }))
  t.same(usersOf(daveJoined).sort(byUserId), [
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
  t.same(await alice.unread(), [], 'the move was accepted')
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

  t.same(await bob.unread(300), [], 'a plaza.v1 peer hears nothing: no leave, no join')
  t.same(await carol.unread(0), [], 'a metaverse peer hears nothing either')
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
  t.same(await bob.unread(300), [], 'the peer hears nothing')
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
  t.same(await inOne.unread(300), [], 'the first connection is not replaced')
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
  t.same(usersOf(bobJoined).sort(byUserId), [
    { userId: 'alice', username: 'Alice', x: aliceAt.x, y: aliceAt.y, connected: true },
    { userId: 'ghost', username: 'Ghost', x: 5, y: 6, connected: false },
    { userId: 'legacy', username: 'Legacy', x: 7, y: 1, connected: true },
    { userId: 'remote', username: 'Remote', x: 2, y: 3, connected: true }
  ], 'memory over Redis, one entry per userId, an entry without connected counts as connected, no bob')

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
  // STALE_USER_MS 400: the server refreshes at least every 133 ms.
  const plaza = await startApp(t, { STALE_USER_MS: 400, POSITION_FLUSH_MS: 20 })
  await plaza.defineSpace({ id: 'hall', width: 10, height: 10 })
  const alice = await connect(t, plaza, 'plaza.v1')
  const joined = await alice.join('hall', plaza.token({ userId: 'alice' }))
  const first = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => e !== undefined)
  const firstAt = first?.lastUpdated as number
  t.equal(typeof firstAt, 'number')

  await sleep(500)
  const later = await settle(() => entryOf(plaza, 'hall', 'alice'), (e) => (e?.lastUpdated as number) >= firstAt + 300)
  t.ok((later?.lastUpdated as number) >= firstAt + 300, `lastUpdated advanced without a move (${firstAt} → ${String(later?.lastUpdated)})`)
  t.match(later, { ...tileOf(joined), connected: true }, 'same position, still connected')
  t.ok(Date.now() - (later?.lastUpdated as number) < 400, 'lastUpdated is never older than STALE_USER_MS')
})

t.test('without Redis the server boots and serves a space from memory', async (t) => {
  const plaza = await startApp(t, { REDIS_URL: 'redis://127.0.0.1:6390', REDIS_CONNECT_TIMEOUT_MS: 200 })
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

interface StoreOptions {
  commandTimeout?: number
  claimSpacingMs?: number
  saturated?: () => boolean
}

/** A presence store of its own (no app around it) on a client of its own, closed when the test ends. */
async function storeOn (t: Test, url: string, prefix: string, serverId: string, options: StoreOptions = {}): Promise<RedisPresenceStore> {
  const { claimSpacingMs, saturated, ...clientOptions } = options
  const client = new Redis(url, { enableAutoPipelining: true, autoPipeliningIgnoredCommands: UNPIPELINED_COMMANDS, maxRetriesPerRequest: 1, ...clientOptions })
  client.on('error', () => { /* a frozen Redis, on purpose */ })
  const log: Logger = { level: 'silent', debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }
  const store = new RedisPresenceStore({ redis: client, keys: redisKeys(prefix), log, serverId, ttlSeconds: 60, flushIntervalMs: 60_000, claimSpacingMs, saturated })
  t.teardown(async () => {
    if (client.status === 'ready') await store.close()
    client.disconnect()
  })
  await once(client, 'ready')
  return store
}

t.test('a join read that Redis answers before a drop\'s write lands still sees the ghost (the write in flight)', async (t) => {
  const { prefix, redis } = isolate(t)
  const store = await storeOn(t, REDIS_URL, prefix, 'race-1')
  const bob = (connected: boolean): PresenceRecord => ({ userId: 'bob', username: 'Bob', x: 5, y: 4, connectionId: 'c1', lastUpdated: Date.now(), connected })

  // Redis has Bob connected to this server; the join read leaves such entries to memory.
  store.save('race', bob(true))
  t.equal(await store.flush(), true)
  // Bob drops: his ghost is queued. A join's read goes out, and only then the flush takes the ghost.
  store.save('race', bob(false))
  const read = store.claimAndRead('race', 'carol', true)
  await new Promise((resolve) => setImmediate(resolve))
  const written = store.flush()
  const { users, fromStore } = await read
  t.equal(fromStore, true)
  t.match(users.find((u) => u.userId === 'bob'), { x: 5, y: 4, connected: false }, 'Bob is a ghost where he was, not gone')
  t.equal(await written, true)
  t.match(JSON.parse(await redis.hget(`${prefix}space:race:users`, 'bob') ?? '{}'), { connected: false })
})

/**
 * A store on its own ioredis client against a Redis of the test's own, and the number of script calls
 * Redis has run since (INFO commandstats), counted from after a first join that loads the script.
 */
async function countedStore (t: Test, server: PrivateRedis, options: StoreOptions = {}): Promise<{ store: RedisPresenceStore, redis: Redis, calls: () => Promise<number> }> {
  // No spacing between calls unless a test asks for it: each call goes as soon as it may.
  const store = await storeOn(t, server.url, 'batch:', 'batch-1', { claimSpacingMs: 0, ...options })
  await store.claimAndRead('warm-up', 'nobody', false)
  const redis = server.client(t)
  await redis.config('RESETSTAT')
  const calls = async (): Promise<number> => {
    const match = /^cmdstat_evalsha:calls=(\d+)/m.exec(await redis.info('commandstats'))
    return Number(match?.[1] ?? 0)
  }
  return { store, redis, calls }
}

t.test('the joins of one turn share one script call, each with its own claim and its space\'s read', async (t) => {
  const { store, redis, calls } = await countedStore(t, await PrivateRedis.start(t))
  const prefix = 'batch:'
  // Another server holds u0's avatar in s1; s1 has a ghost of that server, s2 a connected user of it.
  await redis.hset(`${prefix}space:s1:owners`, 'u0', 'other-1')
  await redis.hset(`${prefix}space:s1:users`, 'ghost', JSON.stringify({ username: 'G', x: 1, y: 2, connectionId: 'c', lastUpdated: 1, connected: false, serverId: 'other-1' }))
  await redis.hset(`${prefix}space:s2:users`, 'far', JSON.stringify({ username: 'F', x: 3, y: 4, connectionId: 'c', lastUpdated: 1, connected: true, serverId: 'other-1' }))

  const joins = Array.from({ length: 40 }, (_, i) => store.claimAndRead(`s${(i % 4) + 1}`, `u${i}`, true))
  // The same user again in the same turn (a second tab), and a join with nothing to claim.
  const again = store.claimAndRead('s1', 'u0', true)
  const unclaimed = store.claimAndRead('s2', 'here', false)
  const reads = await Promise.all(joins)
  t.equal(await calls(), 1, '42 joins in one turn: one script call')
  t.equal(reads[0]?.previousOwner, 'other-1', 'u0 was held by another server')
  t.equal((await again).previousOwner, 'batch-1', 'the second claim of u0 in the batch finds the first')
  t.ok(reads.slice(1).every((r) => r.previousOwner === undefined && r.fromStore), 'nobody held the others')
  t.same(reads[4]?.users.map((u) => u.userId), ['ghost'], 'a join to s1 reads s1')
  t.same(reads[1]?.users.map((u) => u.userId), ['far'], 'a join to s2 reads s2')
  t.same(reads[2]?.users, [], 'a join to s3 reads s3')
  t.same((await unclaimed).users.map((u) => u.userId), ['far'], 'an unclaimed join reads too')
  t.equal((await unclaimed).previousOwner, undefined)
  t.equal(await redis.hget(`${prefix}space:s3:owners`, 'u2'), 'batch-1', 'the claims were written')
  t.equal(await redis.hlen(`${prefix}space:s1:owners`), 10)
  t.equal(await redis.hexists(`${prefix}space:s2:owners`, 'here'), 0, 'nothing claimed for the unclaimed join')
  const ttl = await redis.ttl(`${prefix}space:s4:owners`)
  t.ok(ttl > 0 && ttl <= 60, `the owners hash expires (ttl ${ttl})`)
})

t.test('joins that arrive while a script call is out wait for it and go together, bounded by the command timeout', async (t) => {
  const server = await PrivateRedis.start(t)
  const { store, redis, calls } = await countedStore(t, server, { commandTimeout: 500 })
  server.signal('SIGSTOP')
  t.teardown(() => server.signal('SIGCONT'))
  const first = store.claimAndRead('s1', 'a', true)
  const later: Array<Promise<{ fromStore: boolean }>> = []
  for (let turn = 0; turn < 3; turn++) {
    await new Promise((resolve) => setImmediate(resolve))
    later.push(store.claimAndRead('s1', `b${turn}`, true), store.claimAndRead('s2', `c${turn}`, true))
  }
  server.signal('SIGCONT')
  t.equal((await first).fromStore, true)
  const reads = await Promise.all(later)
  t.ok(reads.every((r) => r.fromStore), 'every join read the store')
  t.equal(await calls(), 2, 'the joins of three turns waited behind the first call, then went in one')
  t.equal(await redis.hlen('batch:space:s1:owners'), 4, 'and were claimed')

  // Redis stalls for longer than the timeout: the call out then fails, and the join behind it gets
  // a call of its own, which Redis answers once it is back.
  server.signal('SIGSTOP')
  const stuck = store.claimAndRead('s1', 'd', true)
  await new Promise((resolve) => setImmediate(resolve))
  const behind = store.claimAndRead('s1', 'e', true)
  const thaw = setTimeout(() => server.signal('SIGCONT'), 750)
  t.teardown(() => clearTimeout(thaw))
  t.equal((await stuck).fromStore, false, 'the timed-out join falls back to memory')
  t.equal((await behind).fromStore, true, 'the one behind it is not failed with it: it reads the store')
  t.equal(await redis.hget('batch:space:s1:owners', 'e'), 'batch-1', 'and claims')
})

t.test('in a storm, claim calls go at most every few milliseconds: joins of successive turns share one', async (t) => {
  // A spacing long enough that no machine is slower than it: 1 s.
  const spacingMs = 1000
  // Saturated throughout, as in a storm (test/loop-load.test.ts tests the reading itself).
  const { store, calls } = await countedStore(t, await PrivateRedis.start(t), { claimSpacingMs: spacingMs, saturated: () => true })
  const quick = async (read: Promise<{ fromStore: boolean }>): Promise<boolean> => {
    const late = new Promise<'late'>((resolve) => setTimeout(resolve, spacingMs * 0.9, 'late').unref())
    const first = await Promise.race([read, late])
    return first !== 'late' && first.fromStore
  }
  // The store's warm-up join made a call: after a quiet moment, the next goes at once.
  await new Promise((resolve) => setTimeout(resolve, spacingMs))
  t.ok(await quick(store.claimAndRead('s1', 'a', true)), 'a join after a quiet moment goes at once, and reads the store')
  // Redis has answered; joins arrive one per turn, as a storm's do.
  const later: Array<Promise<{ fromStore: boolean }>> = []
  for (let turn = 0; turn < 3; turn++) {
    later.push(store.claimAndRead('s1', `b${turn}`, true))
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.ok((await Promise.all(later)).every((r) => r.fromStore), 'each read the store')
  t.equal(await calls(), 2, 'the three went in one call after the first, not one call per turn')
  await new Promise((resolve) => setTimeout(resolve, spacingMs))
  t.ok(await quick(store.claimAndRead('s1', 'c', true)), 'and after the next quiet moment, again')
  t.equal(await calls(), 3)
  // A join that would wait out the spacing (~1 s from now) when the store closes goes at once.
  const waiting = quick(store.claimAndRead('s1', 'd', true))
  await store.close()
  t.ok(await waiting, 'closing sends the waiting join, and it reads the store')
})

t.test('joins that each wait for the one before go at once on a server that is not saturated', async (t) => {
  const spacingMs = 1000
  const { store, calls } = await countedStore(t, await PrivateRedis.start(t), { claimSpacingMs: spacingMs })
  // A client that joins its users one after the other: each join follows the last call closely.
  // (Past the load's first window: before it, the store does not judge the load at all.)
  await new Promise((resolve) => setTimeout(resolve, 150))
  const started = performance.now()
  for (let i = 0; i < 5; i++) t.ok((await store.claimAndRead('s1', `u${i}`, true)).fromStore)
  const elapsed = performance.now() - started
  t.ok(elapsed < spacingMs, `none waited out the spacing (${elapsed.toFixed(0)} ms for five)`)
  t.equal(await calls(), 5, 'a call each')
})

t.test('a flush writes every space in few script calls, in chunks when a space has many users', async (t) => {
  const { prefix, redis } = isolate(t)
  const store = await storeOn(t, REDIS_URL, prefix, 'flush-1')
  const user = (i: number): PresenceRecord => ({ userId: `u${i}`, username: `U${i}`, x: i % 50, y: 1, connectionId: `c${i}`, lastUpdated: Date.now(), connected: true })
  // 5,000 users in one space: 10,000 arguments, past what Lua's unpack() takes at once; then 20
  // spaces of one user each, in a second call.
  for (let i = 0; i < 5000; i++) store.save('big', user(i))
  for (let s = 0; s < 20; s++) store.save(`small-${s}`, user(s))
  t.equal(await store.flush(), true)
  t.equal(await redis.hlen(`${prefix}space:big:users`), 5000)
  t.match(JSON.parse(await redis.hget(`${prefix}space:big:users`, 'u4999') ?? '{}'), { username: 'U4999', x: 49, connected: true })
  t.equal(await redis.hlen(`${prefix}space:small-19:users`), 1)
  // 4,500 leave and one moves in the big space; a small space loses its user while another gains one.
  for (let i = 0; i < 4500; i++) store.remove('big', `u${i}`)
  store.save('big', { ...user(4700), x: 7 })
  store.remove('small-0', 'u0')
  store.save('small-1', user(1001))
  t.equal(await store.flush(), true)
  t.equal(await redis.hlen(`${prefix}space:big:users`), 500)
  t.match(JSON.parse(await redis.hget(`${prefix}space:big:users`, 'u4700') ?? '{}'), { x: 7 })
  t.equal(await redis.exists(`${prefix}space:small-0:users`), 0)
  t.same((await redis.hkeys(`${prefix}space:small-1:users`)).sort(), ['u1', 'u1001'])
  const ttl = await redis.ttl(`${prefix}space:small-3:users`)
  t.ok(ttl > 0 && ttl <= 60, `each hash's expiry is refreshed (ttl ${ttl})`)
})

t.test('the first write of a joined user puts back a claim that a late disown took away, never over another server', async (t) => {
  const { prefix, redis } = isolate(t)
  const store = await storeOn(t, REDIS_URL, prefix, 'own-1')
  const owners = `${prefix}space:hall:owners`
  await Promise.all([store.claimAndRead('hall', 'amy', true), store.claimAndRead('hall', 'ben', true)])
  t.same(await redis.hgetall(owners), { amy: 'own-1', ben: 'own-1' })
  // A disown sent before the rejoin but run after its claim (a drop's flush, late): Amy's entry is
  // gone. Meanwhile another server took Ben over.
  await redis.hdel(owners, 'amy')
  await redis.hset(owners, 'ben', 'other-9')
  const at = (userId: string): PresenceRecord => ({ userId, username: userId, x: 1, y: 1, connectionId: 'c', lastUpdated: Date.now(), connected: true })
  store.save('hall', at('amy'))
  store.save('hall', at('ben'))
  t.equal(await store.flush(), true)
  t.same(await redis.hgetall(owners), { amy: 'own-1', ben: 'other-9' }, 'Amy is this server\'s again; Ben stays the other server\'s')
  // Written once per hold: a later write of Amy does not look again.
  await redis.hdel(owners, 'amy')
  store.save('hall', { ...at('amy'), x: 2 })
  t.equal(await store.flush(), true)
  t.equal(await redis.hexists(owners, 'amy'), 0)
})

t.test('a flush of 120,000 users (the refresh of a full server) writes them all, and their removal too', async (t) => {
  const { prefix, redis } = isolate(t)
  const store = await storeOn(t, REDIS_URL, prefix, 'many-1')
  const now = Date.now()
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < 40_000; i++) store.save(`crowd-${s}`, { userId: `u${i}`, username: 'U', x: 1, y: 1, connectionId: 'c', lastUpdated: now, connected: true })
  }
  // 240,000 index arguments: spread into one call, they would overflow the stack.
  t.equal(await store.flush(), true)
  t.equal(await redis.hlen(`${prefix}space:crowd-2:users`), 40_000)
  t.equal(await redis.zcard(`${prefix}plaza:presence`), 120_000, 'the sweep\'s index has everyone')
  t.equal(await redis.scard(`${prefix}plaza:server:many-1:users`), 120_000, 'the server\'s set has everyone')
  for (let s = 0; s < 3; s++) for (let i = 0; i < 40_000; i++) store.remove(`crowd-${s}`, `u${i}`)
  t.equal(await store.flush(), true)
  t.equal(await redis.exists(`${prefix}space:crowd-0:users`), 0)
  t.equal(await redis.zcard(`${prefix}plaza:presence`), 0)
  t.equal(await redis.scard(`${prefix}plaza:server:many-1:users`), 0)
})
