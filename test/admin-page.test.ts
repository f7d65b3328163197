/** Who is in a space (GET /admin/spaces/:spaceId/users), over real HTTP with real WebSocket clients. */
import t from 'tap'
import type { Test } from 'tap'
import { ADMIN_TOKEN, settle, startApp, type TestApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'
import { PrivateRedis } from './helpers/private-redis.js'

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }

interface User { userId: string, username: string, x: number, y: number, connected: boolean, lastActive?: number, idle?: boolean }

async function usersOf (plaza: TestApp, spaceId: string): Promise<{ status: number, body: { spaceId?: string, users?: User[], message?: string } }> {
  const response = await fetch(`${plaza.httpBase}/admin/spaces/${spaceId}/users`, { headers: admin })
  return { status: response.status, body: await response.json() as { users?: User[] } }
}

/** A plaza.v1 client joined to `spaceId`, closed when the test ends. */
async function joined (t: Test, plaza: TestApp, spaceId: string, userId: string, username: string): Promise<TestClient> {
  const client = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => client.close())
  await client.join(spaceId, plaza.token({ userId, username }))
  return client
}

t.test('GET /admin/spaces/:spaceId/users answers 401 without the token and 404 for an unknown space', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall' })
  t.equal((await fetch(`${plaza.httpBase}/admin/spaces/hall/users`)).status, 401)
  t.equal((await fetch(`${plaza.httpBase}/admin/spaces/hall/users`, { headers: { authorization: 'Bearer wrong' } })).status, 401)
  const unknown = await usersOf(plaza, 'nowhere')
  t.equal(unknown.status, 404)
  t.match(unknown.body, { statusCode: 404, message: 'no space nowhere' })
  t.same(await usersOf(plaza, 'hall'), { status: 200, body: { spaceId: 'hall', users: [] } }, 'a known space with nobody in it')
})

t.test('GET /admin/spaces/:spaceId/users lists connected users and ghosts with their positions', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall', width: 8, height: 8 })
  await plaza.defineSpace({ id: 'elsewhere' })
  const alice = await joined(t, plaza, 'hall', 'alice', 'Alice')
  const bob = await joined(t, plaza, 'hall', 'bob', 'Bob')
  await joined(t, plaza, 'elsewhere', 'carol', 'Carol')
  const both = await settle(() => usersOf(plaza, 'hall'), (r) => r.body.users?.length === 2)
  t.equal(both.status, 200)
  t.match(both.body.users, [
    { userId: 'alice', username: 'Alice', connected: true, x: Number, y: Number, lastActive: Number, idle: false },
    { userId: 'bob', username: 'Bob', connected: true, idle: false }
  ], 'both, by name; Carol is in another space')

  // Alice moves: the route shows where she stands once it is written.
  const spawn = (alice.received.find((f) => f.type === 'space-joined')?.payload.spawn ?? {}) as { x: number, y: number }
  const step = { x: spawn.x + (spawn.x + 1 < 8 ? 1 : -1), y: spawn.y }
  alice.send({ type: 'move', payload: step })
  const moved = await settle(() => usersOf(plaza, 'hall'), (r) => r.body.users?.[0]?.x === step.x)
  t.match(moved.body.users?.[0], { userId: 'alice', ...step })

  // Bob's connection drops: he stays as a ghost.
  await bob.close()
  const ghost = await settle(() => usersOf(plaza, 'hall'), (r) => r.body.users?.find((u) => u.userId === 'bob')?.connected === false)
  t.match(ghost.body.users, [{ userId: 'alice', connected: true }, { userId: 'bob', username: 'Bob', connected: false }], 'Bob is a ghost')
})

t.test('a user without activity for IDLE_AFTER_MS is listed idle', async (t) => {
  const plaza = await startApp(t, { IDLE_AFTER_MS: 200 })
  await plaza.defineSpace({ id: 'hall' })
  await joined(t, plaza, 'hall', 'alice', 'Alice')
  const idle = await settle(() => usersOf(plaza, 'hall'), (r) => r.body.users?.[0]?.idle === true)
  t.match(idle.body.users, [{ userId: 'alice', connected: true, idle: true }])
})

t.test('GET /admin/spaces/:spaceId/users answers 503 within a second or so when Redis hangs', async (t) => {
  const redis = await PrivateRedis.start(t)
  const plaza = await startApp(t, { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: 300 })
  await plaza.defineSpace({ id: 'hall' })
  redis.signal('SIGSTOP')
  t.teardown(() => redis.signal('SIGCONT'))
  const started = Date.now()
  const reply = await usersOf(plaza, 'hall')
  t.equal(reply.status, 503)
  t.match(reply.body, { message: 'Redis did not answer' })
  t.ok(Date.now() - started < 2000, `answered in ${Date.now() - started} ms`)
})
