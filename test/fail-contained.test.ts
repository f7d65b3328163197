import { Redis } from 'ioredis'
import t from 'tap'
import { ServerLiveness } from '../src/cluster/server-liveness.js'
import { redisKeys } from '../src/keys.js'
import { silentLogger } from '../src/logger.js'
import { RedisPresenceStore } from '../src/presence/redis-store.js'
import { StaleSweeper } from '../src/presence/stale-sweeper.js'
import type { PresenceRecord } from '../src/presence/store.js'
import { ADMIN_TOKEN, isolate, settle, startApp } from './helpers/app.js'
import { PrivateRedis } from './helpers/private-redis.js'
import { neighbour, TestClient } from './helpers/client.js'

/** One bad key, or one dead server, costs nobody else anything. */

t.test('a space whose users key holds another writer\'s data stops no other space\'s writes, and is reported', async (t) => {
  const plaza = await startApp(t, { POSITION_FLUSH_MS: 20 })
  await plaza.defineSpace({ id: 'p1' })
  await plaza.defineSpace({ id: 'lobby' })
  const badKey = `${plaza.prefix}space:p1:users`
  await plaza.redis.set(badKey, 'not-a-hash')

  const ann = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const bob = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => Promise.all([ann.close(), bob.close()]))
  const annJoined = await ann.join('p1', plaza.token({ userId: 'ann' }))
  t.same(annJoined.users, [], 'a join into the space with the bad key is served from memory')
  const joined = await bob.join('lobby', plaza.token({ userId: 'bob' }))
  const spawn = joined.spawn as { x: number, y: number }
  const step = neighbour(spawn.x, spawn.y, 10)
  const annSpawn = annJoined.spawn as { x: number, y: number }
  const annStep = neighbour(annSpawn.x, annSpawn.y, 10)
  ann.send({ type: 'move', payload: annStep })
  bob.send({ type: 'move', payload: step })

  const bobInRedis = await settle(async () => (await plaza.usersInRedis('lobby')).bob, (e) => e?.x === step.x && e.y === step.y)
  t.match(bobInRedis, step, 'the other space\'s position reached Redis')
  t.equal(await plaza.redis.get(badKey), 'not-a-hash', 'the other writer\'s key is left as it was')
  t.equal(await plaza.redis.zscore(`${plaza.prefix}plaza:presence`, 'p1 ann'), null, 'the unwritten user is not counted in the index')

  const health = await fetch(`${plaza.httpBase}/admin/health`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  const body = await health.json() as { status: string, faults: Array<{ key: string, spaceId: string, error: string }> }
  t.equal(body.status, 'healthy', 'Redis itself answers')
  t.match(body.faults, [{ key: badKey, spaceId: 'p1', error: /WRONGTYPE/ }], '/admin/health names the key')
  const metrics = await (await fetch(`${plaza.httpBase}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text()
  t.match(metrics, /^plaza_presence_faulty_keys 1$/m)
  t.match(metrics, /^plaza_presence_refused_total [1-9]/m)

  // Once the key is gone, the space is written again and the fault clears.
  await plaza.redis.del(badKey)
  ann.send({ type: 'move', payload: annSpawn })
  const annInRedis = await settle(async () => (await plaza.usersInRedis('p1')).ann, (e) => e !== undefined)
  t.match(annInRedis, annSpawn, 'the space is written once its key is Plaza\'s again')
  const healed = await (await fetch(`${plaza.httpBase}/admin/health`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json() as { faults: unknown[] }
  t.same(healed.faults, [])
})

t.test('an owners key that holds another writer\'s data is the one reported, and a ghost waiting on it is written once it is gone', async (t) => {
  const plaza = await startApp(t, { POSITION_FLUSH_MS: 20 })
  await plaza.defineSpace({ id: 'p2' })
  const ownersKey = `${plaza.prefix}space:p2:owners`
  await plaza.redis.set(ownersKey, 'not-a-hash')
  const cy = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const joined = await cy.join('p2', plaza.token({ userId: 'cy' }))
  await cy.close()
  const health = async (): Promise<Array<{ key: string }>> =>
    ((await (await fetch(`${plaza.httpBase}/admin/health`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { faults: Array<{ key: string }> }).faults
  await settle(() => plaza.app.presence.faults().keys, (keys) => keys.length > 0)
  t.match(await health(), [{ key: ownersKey }], 'the owners key is named, not the users hash')
  await plaza.redis.del(ownersKey)
  const ghost = await settle(async () => (await plaza.usersInRedis('p2')).cy, (e) => e !== undefined, 8000)
  t.match(ghost, { connected: false, ...(joined.spawn as object) }, 'the dropped user is written as a ghost once the key is gone')
  await settle(() => plaza.app.presence.faults().keys, (keys) => keys.length === 0, 8000)
  t.same(await health(), [])
})

t.test('the stale sweep passes over a key another writer took, and the rest is swept', async (t) => {
  const { prefix, redis } = isolate(t)
  const keys = redisKeys(prefix)
  const now = Date.now()
  const old = now - 10 * 60_000
  await redis.set(keys.spaceUsers('bad'), 'not-a-hash')
  await redis.zadd(keys.presenceIndex, old, 'bad ann', old, 'good bob')
  await redis.hset(keys.spaceUsers('good'), 'bob', JSON.stringify({ username: 'bob', x: 1, y: 1, lastUpdated: old, lastActive: old, sessionStart: old, connected: false }))
  const sweeper = new StaleSweeper({ redis, keys, log: silentLogger, staleAfterMs: 60_000 })
  t.same(await sweeper.sweep(now), [{ spaceId: 'good', userId: 'bob', wasConnected: false, sessionStart: old }], 'the good space is swept, with the start of the session it ends')
  t.equal(await redis.zcard(keys.presenceIndex), 0, 'the bad key\'s member leaves the index')
})

t.test('a crashed server\'s users keep the time it was last known alive, not the time it was found dead', async (t) => {
  const { prefix, redis } = isolate(t)
  const keys = redisKeys(prefix)
  const [seconds] = await redis.time()
  const lastBeat = Number(seconds) * 1000 - 30_000
  await redis.zadd(keys.servers, lastBeat, 'crashed-1')
  await redis.sadd(keys.serverUsers('crashed-1'), 'hall ann')
  await redis.hset(keys.spaceUsers('hall'), 'ann', JSON.stringify({ username: 'ann', x: 2, y: 3, connectionId: 'c', lastUpdated: lastBeat - 5000, lastActive: lastBeat - 5000, sessionStart: lastBeat - 5000, connected: true, serverId: 'crashed-1' }))
  const liveness = new ServerLiveness({ redis, keys, serverId: 'watcher-1', deadAfterMs: 6000 })
  t.same(await liveness.reapDead(), [{ serverId: 'crashed-1', spaceId: 'hall', userId: 'ann' }])
  const entry = JSON.parse(await redis.hget(keys.spaceUsers('hall'), 'ann') ?? '{}') as Record<string, unknown>
  t.match(entry, { connected: false, lastUpdated: lastBeat, x: 2, y: 3 })
  t.equal(Number(await redis.zscore(keys.presenceIndex, 'hall ann')), lastBeat, 'the sweep\'s index has the same time')
  t.equal(Number(await redis.zscore(keys.ghostIndex, 'hall ann')), lastBeat)
})

t.test('a flush that throws while its batch is planned loses nothing: the batch is written by the next one', async (t) => {
  const { prefix, redis } = isolate(t)
  const keys = redisKeys(prefix)
  await redis.ping()
  const store = new RedisPresenceStore({ redis, keys, log: silentLogger, serverId: 'throw-1', ttlSeconds: 60, flushIntervalMs: 60_000 })
  t.teardown(() => store.close())
  let reads = 0
  const record: PresenceRecord = {
    userId: 'ann',
    username: 'ann',
    // Throws the first time it is read, as a bug in planning would.
    get x () { if (reads++ === 0) throw new Error('planning failed'); return 4 },
    y: 5,
    connectionId: 'c',
    lastUpdated: Date.now(),
    lastActive: Date.now(),
    sessionStart: Date.now(),
    connected: true
  }
  store.save('hall', record)
  t.equal(await store.flush(), false, 'the flush that threw reports it')
  t.equal(await store.flush(), true)
  t.match(JSON.parse(await redis.hget(keys.spaceUsers('hall'), 'ann') ?? '{}'), { x: 4, y: 5 }, 'the record was kept and written')
})

t.test('an error that may pass (Redis out of memory) is no fault: the batch waits whole and is written once Redis accepts it', async (t) => {
  const server = await PrivateRedis.start(t)
  const redis = new Redis(server.url)
  t.teardown(() => redis.quit())
  await redis.ping()
  const keys = redisKeys('oom:')
  const store = new RedisPresenceStore({ redis, keys, log: silentLogger, serverId: 'oom-1', ttlSeconds: 60, flushIntervalMs: 60_000 })
  t.teardown(() => store.close())
  await server.cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
  await server.cli('CONFIG', 'SET', 'maxmemory', '1')
  store.save('hall', { userId: 'ann', username: 'ann', x: 1, y: 2, connectionId: 'c', lastUpdated: Date.now(), lastActive: Date.now(), sessionStart: Date.now(), connected: true })
  t.equal(await store.flush(), false, 'the flush fails while Redis refuses writes')
  t.same(store.faults().keys, [], 'no key is blamed')
  await server.cli('CONFIG', 'SET', 'maxmemory', '0')
  t.equal(await store.flush(), true)
  t.match(JSON.parse(await redis.hget(keys.spaceUsers('hall'), 'ann') ?? '{}'), { x: 1, y: 2 }, 'written once Redis accepts it')
})

t.test('writes parked for a bad key are tried again only once the key is fixed, and never for a deleted space', async (t) => {
  const { prefix, redis } = isolate(t)
  await redis.ping()
  const keys = redisKeys(prefix)
  const store = new RedisPresenceStore({ redis, keys, log: silentLogger, serverId: 'park-1', ttlSeconds: 60, flushIntervalMs: 60_000, faultRetryMs: 20 })
  t.teardown(() => store.close())
  const ann: PresenceRecord = { userId: 'ann', username: 'ann', x: 1, y: 2, connectionId: 'c', lastUpdated: Date.now(), lastActive: Date.now(), sessionStart: Date.now(), connected: true }
  for (const spaceId of ['kept', 'gone']) {
    await redis.set(keys.spaceUsers(spaceId), 'not-a-hash')
    store.save(spaceId, ann)
  }
  t.equal(await store.flush(), true)
  const refused = store.faults().refused
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 30))
    await store.flush()
  }
  t.equal(store.faults().refused, refused, 'nothing is retried while the keys still refuse')
  await store.removeSpace('gone')
  await redis.del(keys.spaceUsers('kept'))
  await settle(async () => {
    await store.flush()
    return redis.hget(keys.spaceUsers('kept'), 'ann')
  }, (value) => value !== null)
  t.match(JSON.parse(await redis.hget(keys.spaceUsers('kept'), 'ann') ?? '{}'), { x: 1, y: 2 }, 'the fixed space is written')
  await redis.del(keys.spaceUsers('gone'))
  await new Promise((resolve) => setTimeout(resolve, 50))
  await store.flush()
  t.equal(await redis.exists(keys.spaceUsers('gone')), 0, 'the deleted space is not written back, even once its key is free')
  t.same(store.faults().keys, [])
})
