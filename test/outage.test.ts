import t from 'tap'
import { settle, startApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'
import { PrivateRedis } from './helpers/private-redis.js'
import { startServer } from './helpers/process.js'
import { createSigner } from 'fast-jwt'

const sign = createSigner({ key: 'outage-secret' })
const admin = { authorization: 'Bearer outage-admin', 'content-type': 'application/json' }

t.test('Redis killed and restarted empty under live users on two servers: service goes on, and Redis is right again', async (t) => {
  const redis = await PrivateRedis.start(t)
  const env = {
    REDIS_URL: redis.url,
    JWT_SECRET: 'outage-secret',
    ADMIN_TOKEN: 'outage-admin',
    REDIS_COMMAND_TIMEOUT_MS: 300,
    SERVER_HEARTBEAT_MS: 200,
    SERVER_DEAD_AFTER_MS: 2000
  }
  const [s1, s2] = await Promise.all([startServer(t, env), startServer(t, env)])
  t.equal((await fetch(`${s1.http}/admin/spaces/hall`, { method: 'PUT', headers: admin, body: JSON.stringify({ width: 10, height: 10 }) })).status, 201)
  const alice = await TestClient.connect(`${s1.ws}/ws`, 'plaza.v1')
  const bob = await TestClient.connect(`${s2.ws}/ws`, 'plaza.v1')
  t.teardown(() => Promise.all([alice.close(), bob.close()]))
  const a = (await alice.join('hall', sign({ userId: 'alice' }))).spawn as { x: number, y: number }
  await bob.join('hall', sign({ userId: 'bob' }))
  await alice.next('user-joined-space')

  await redis.stop('SIGKILL')
  // Without Redis: moves still reach peers on the same server; a join still answers.
  const carol = await TestClient.connect(`${s1.ws}/ws`, 'metaverse')
  t.teardown(() => carol.close())
  const started = Date.now()
  const carolJoined = await carol.join('hall', sign({ userId: 'carol' }))
  t.ok(Date.now() - started < 2000, 'a join does not wait on the dead Redis')
  t.match(carolJoined.users, [{ userId: 'alice' }], 'from memory')
  const step = { x: a.x + (a.x + 1 < 10 ? 1 : -1), y: a.y }
  alice.send({ type: 'move', payload: step })
  t.same((await carol.waitFor('movement')).payload, { userId: 'alice', ...step }, 'moves are broadcast from memory')
  const health = await fetch(`${s1.http}/admin/health`, { headers: admin })
  t.equal(health.status, 503, 'health says unhealthy')

  await redis.start()
  // Back, and empty: each server writes its users and spaces back on its own.
  const hash = await settle(async () => (await redis.cli('hkeys', 'space:hall:users')).split('\n').filter(Boolean).sort(),
    (ids) => ids.length === 3, 8000)
  t.same(hash, ['alice', 'bob', 'carol'], 'every connected user is back in Redis, once')
  const aliceEntry = JSON.parse(await redis.cli('hget', 'space:hall:users', 'alice')) as Record<string, unknown>
  t.match(aliceEntry, { ...step, connected: true }, 'where she is now')
  t.match(JSON.parse(await redis.cli('hget', 'plaza:spaces', 'hall')) as object, { id: 'hall', width: 10 }, 'the space definition is back')
  const healthy = await settle(async () => (await fetch(`${s1.http}/admin/health`, { headers: admin })).status, (s) => s === 200, 8000)
  t.equal(healthy, 200, 'health recovers')

  // And the servers talk again: a move on one reaches a peer on the other.
  let at = step
  const heard = await settle(async () => {
    at = at === step ? a : step
    alice.send({ type: 'move', payload: at })
    return await bob.waitFor('user-moved', 500).then(() => true, () => false)
  }, (ok) => ok, 8000)
  t.ok(heard, 'Pub/Sub between the servers works again')
})

t.test('a hung Redis holds no join: a join into a new space, and moves, go on from memory', async (t) => {
  const redis = await PrivateRedis.start(t)
  const plaza = await startApp(t, { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: 300 })
  await plaza.defineSpace({ id: 'hall' })
  const alice = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const bob = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => Promise.all([alice.close(), bob.close()]))

  redis.signal('SIGSTOP')
  t.teardown(() => redis.signal('SIGCONT'))
  const started = Date.now()
  const spawn = (await alice.join('hall', plaza.token({ userId: 'alice' }))).spawn as { x: number, y: number }
  t.ok(Date.now() - started < 1500, `the first join of the space answered in ${Date.now() - started} ms (a few command timeouts at most)`)
  await bob.join('hall', plaza.token({ userId: 'bob' }))
  await alice.next('user-joined-space')
  const step = { x: spawn.x + (spawn.x + 1 < 10 ? 1 : -1), y: spawn.y }
  alice.send({ type: 'move', payload: step })
  t.same((await bob.next('user-moved')).payload, { userId: 'alice', ...step }, 'moves are broadcast while Redis hangs')
})
