import { Redis } from 'ioredis'
import t from 'tap'
import { redisKeys } from '../src/keys.js'
import { StaleSweeper } from '../src/presence/stale-sweeper.js'
import { REDIS_URL, isolate, settle, startApp, type TestApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

const quiet = { debug () {}, info () {}, warn () {}, error () {}, level: 'silent' }

/** Writes a presence entry as another server would, indexed for the sweep. */
async function writeEntry (plaza: TestApp, spaceId: string, userId: string, entry: { x: number, y: number, lastUpdated: number, connected: boolean }): Promise<void> {
  await plaza.redis.hset(`${plaza.prefix}space:${spaceId}:users`, userId, JSON.stringify({ username: userId, connectionId: 'elsewhere', ...entry }))
  await plaza.redis.zadd(`${plaza.prefix}plaza:presence`, entry.lastUpdated, `${spaceId} ${userId}`)
  if (!entry.connected) await plaza.redis.zadd(`${plaza.prefix}plaza:ghosts`, entry.lastUpdated, `${spaceId} ${userId}`)
}

t.test('ghosts are swept after STALE_USER_MS and plaza.v1 peers told; connected idle users stay', async (t) => {
  // Long enough that a sweep a whole STALE_USER_MS late stands out from a busy machine's delays.
  const plaza = await startApp(t, { STALE_USER_MS: 1500, CLEANUP_INTERVAL_MS: 100 })
  await plaza.defineSpace({ id: 'hall' })
  const alice = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const carol = await TestClient.connect(`${plaza.wsBase}/ws`, 'metaverse')
  const bob = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => Promise.all([alice.close(), carol.close(), bob.close()]))
  await alice.join('hall', plaza.token({ userId: 'alice' }))
  await carol.join('hall', plaza.token({ userId: 'carol' }))
  await bob.join('hall', plaza.token({ userId: 'bob' }))
  await alice.next('user-joined-space')
  await alice.next('user-joined-space')
  await carol.next('user-joined')

  await bob.close()
  await alice.next('user-disconnected')
  t.same((await carol.next('user-left')).payload, { userId: 'bob' }, 'metaverse hears the drop as user-left')
  const droppedAt = Date.now()
  const ghost = await settle(async () => (await plaza.usersInRedis('hall')).bob, (e) => e?.connected === false)
  t.equal(ghost?.connected, false, 'bob is a ghost first')

  t.same((await alice.next('user-left', 5000)).payload, { userId: 'bob' }, 'plaza.v1 peers are told when the ghost is swept')
  const sweptAfter = Date.now() - droppedAt
  t.ok(sweptAfter >= 1400, `not before STALE_USER_MS (${sweptAfter} ms)`)
  t.ok(sweptAfter <= 1500 + 100 + 1000, `on time: within STALE_USER_MS, one CLEANUP_INTERVAL_MS and some slack (${sweptAfter} ms)`)
  const users = await plaza.usersInRedis('hall')
  t.same(Object.keys(users).sort(), ['alice', 'carol'], 'the ghost is gone from Redis; connected idle users stay')
  t.same(await plaza.redis.zrange(`${plaza.prefix}plaza:presence`, '0', '-1').then((m) => m.sort()), ['hall alice', 'hall carol'], 'and from the index')
  // The sweep tells everyone in one turn: alice has heard, so a round trip of carol's shows all.
  t.same(await carol.quiet(), [], 'metaverse peers are not told twice')

  // Long past STALE_USER_MS, idle but connected users are still there.
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.same(Object.keys(await plaza.usersInRedis('hall')).sort(), ['alice', 'carol'], 'connected users are refreshed, never swept')
})

t.test('an entry left connected by a dead server is swept and both dialects hear user-left', async (t) => {
  const plaza = await startApp(t, { STALE_USER_MS: 500, CLEANUP_INTERVAL_MS: 100 })
  await plaza.defineSpace({ id: 'hall' })
  await writeEntry(plaza, 'hall', 'zombie', { x: 1, y: 1, lastUpdated: Date.now() - 400, connected: true })
  const alice = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const carol = await TestClient.connect(`${plaza.wsBase}/ws`, 'metaverse')
  t.teardown(() => Promise.all([alice.close(), carol.close()]))
  const joined = await alice.join('hall', plaza.token({ userId: 'alice' }))
  t.match(joined.users, [{ userId: 'zombie', connected: true }], 'premise: the entry looks connected')
  await carol.join('hall', plaza.token({ userId: 'carol' }))
  await alice.next('user-joined-space')
  t.same((await alice.next('user-left', 3000)).payload, { userId: 'zombie' })
  t.same((await carol.next('user-left', 3000)).payload, { userId: 'zombie' }, 'metaverse too: it never heard a drop')
  t.equal((await plaza.usersInRedis('hall')).zombie, undefined)
})

t.test('sweepers running at once against one Redis remove each stale entry exactly once', async (t) => {
  const { prefix, redis } = isolate(t)
  const keys = redisKeys(prefix)
  const old = Date.now() - 10_000
  const pipeline = redis.pipeline()
  for (let i = 0; i < 1200; i++) {
    const spaceId = `s${i % 7}`
    pipeline.hset(keys.spaceUsers(spaceId), `u${i}`, JSON.stringify({ username: `u${i}`, x: 0, y: 0, connectionId: 'c', lastUpdated: old, connected: i % 2 === 0 }))
    pipeline.zadd(keys.presenceIndex, old, `${spaceId} u${i}`)
  }
  // One entry refreshed after the index was written: the index lags, the entry is not stale.
  pipeline.hset(keys.spaceUsers('s0'), 'fresh', JSON.stringify({ username: 'fresh', x: 0, y: 0, connectionId: 'c', lastUpdated: Date.now(), connected: true }))
  pipeline.zadd(keys.presenceIndex, old, 's0 fresh')
  await pipeline.exec()

  const clients = [new Redis(REDIS_URL), new Redis(REDIS_URL), new Redis(REDIS_URL)]
  t.teardown(() => Promise.all(clients.map((c) => c.quit())))
  const sweepers = clients.map((c) => new StaleSweeper({ redis: c, keys, log: quiet, staleAfterMs: 5000 }))
  const results = await Promise.all(sweepers.map((s) => s.sweep()))
  const all = results.flat().map((u) => `${u.spaceId} ${u.userId}`)
  t.equal(all.length, 1200, 'every stale entry is reported')
  t.equal(new Set(all).size, 1200, 'by exactly one sweeper')
  t.equal(results.flat().filter((u) => u.wasConnected).length, 600, 'each tells whether the entry still claimed a connection')
  t.same(await redis.zrange(keys.presenceIndex, '0', '-1').then((r) => r[0]), 's0 fresh', 'the lagging index entry is kept')
  t.ok(Number((await redis.zscore(keys.presenceIndex, 's0 fresh')) ?? 0) > old, 'and re-scored by the entry it indexes')
  t.same(await redis.hkeys(keys.spaceUsers('s0')), ['fresh'])
})

t.test('a failing sweep is logged and counted, and the next one runs', async (t) => {
  const plaza = await startApp(t, { STALE_USER_MS: 300, CLEANUP_INTERVAL_MS: 50 })
  await plaza.defineSpace({ id: 'hall' })
  const index = `${plaza.prefix}plaza:presence`
  // An index of the wrong type makes every sweep fail with WRONGTYPE.
  await plaza.redis.set(index, 'not a sorted set')
  const failures = await settle(() => plaza.app.metrics.cleanupFailures.get().then((m) => m.values[0]?.value ?? 0), (n) => n >= 2)
  t.ok(failures >= 2, `failed runs are counted (${failures})`)

  await plaza.redis.del(index)
  await writeEntry(plaza, 'hall', 'ghost', { x: 0, y: 0, lastUpdated: Date.now() - 1000, connected: false })
  const left = await settle(() => plaza.usersInRedis('hall'), (u) => u.ghost === undefined)
  t.equal(left.ghost, undefined, 'a later run sweeps as usual')
})
