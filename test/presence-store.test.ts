import { once } from 'node:events'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { redisKeys } from '../src/keys.js'
import type { Logger } from '../src/logger.js'
import { RedisPresenceStore } from '../src/presence/redis-store.js'
import type { PresenceRecord } from '../src/presence/store.js'
import { UNPIPELINED_COMMANDS } from '../src/scripts/index.js'
import { isolate, REDIS_URL } from './helpers/app.js'
import { PrivateRedis } from './helpers/private-redis.js'

/**
 * The presence store on its own, with no app around it (PROTOCOL §5, §6): how it batches its Redis
 * calls (joins of one turn share a script call, claims are spaced in a storm), what a join reads
 * while a write is in flight, and flushes of many users. What a user sees of presence is tested
 * over the wire in presence.test.ts.
 */

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
  const bob = (connected: boolean): PresenceRecord => ({ userId: 'bob', username: 'Bob', x: 5, y: 4, connectionId: 'c1', lastUpdated: Date.now(), lastActive: Date.now(), sessionStart: Date.now(), connected })

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
  await redis.hset(`${prefix}space:s1:users`, 'ghost', JSON.stringify({ username: 'G', x: 1, y: 2, connectionId: 'c', lastUpdated: 1, lastActive: 1, sessionStart: 1, connected: false, serverId: 'other-1' }))
  await redis.hset(`${prefix}space:s2:users`, 'far', JSON.stringify({ username: 'F', x: 3, y: 4, connectionId: 'c', lastUpdated: 1, lastActive: 1, sessionStart: 1, connected: true, serverId: 'other-1' }))

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
  const user = (i: number): PresenceRecord => ({ userId: `u${i}`, username: `U${i}`, x: i % 50, y: 1, connectionId: `c${i}`, lastUpdated: Date.now(), lastActive: Date.now(), sessionStart: Date.now(), connected: true })
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
  const at = (userId: string): PresenceRecord => ({ userId, username: userId, x: 1, y: 1, connectionId: 'c', lastUpdated: Date.now(), lastActive: Date.now(), sessionStart: Date.now(), connected: true })
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
    for (let i = 0; i < 40_000; i++) store.save(`crowd-${s}`, { userId: `u${i}`, username: 'U', x: 1, y: 1, connectionId: 'c', lastUpdated: now, lastActive: now, sessionStart: now, connected: true })
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
