import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSigner, createVerifier } from 'fast-jwt'
import t from 'tap'
import { isolate, settle, testEnv, JWT_SECRET } from './helpers/app.js'
import { TestClient } from './helpers/client.js'
import { runScript, startServer } from './helpers/process.js'

t.test('the server process serves, and on SIGTERM closes sockets with 1001 and keeps users as ghosts', async (t) => {
  const { prefix, redis } = isolate(t)
  const server = await startServer(t, testEnv(prefix))
  const { port } = server

  const admin = { authorization: 'Bearer plaza-test-admin-token', 'content-type': 'application/json' }
  const put = await fetch(`http://127.0.0.1:${port}/admin/spaces/plaza`, { method: 'PUT', headers: admin, body: JSON.stringify({ width: 8, height: 8 }) })
  t.equal(put.status, 201)

  const token = createSigner({ key: JWT_SECRET })({ userId: 'alice' })
  const alice = await TestClient.connect(`ws://127.0.0.1:${port}/ws`, 'plaza.v1')
  const joined = await alice.join('plaza', token)

  server.child.kill('SIGTERM')
  const closed = await alice.closed
  t.equal(closed.code, 1001, 'sockets close with 1001 going away')
  const [code] = await server.exited
  t.equal(code, 0, 'the process exits cleanly')
  t.notMatch(server.output(), token, 'the token is never logged')
  // Lines go out in batches (LOG_FLUSH_MS): the last ones are written at exit.
  t.match(server.output(), /"msg":"Closing Plaza"[^\n]*\n/, 'the last lines are written before the process ends')

  const entry = await settle(async () => redis.hget(`${prefix}space:plaza:users`, 'alice'), (v) => v !== null)
  t.match(JSON.parse(entry ?? '{}'), { x: (joined.spawn as { x: number }).x, connected: false }, 'alice is a ghost where she stood')
})

t.test('zero-config start generates and prints secrets, seeds the lobby and keeps them across restarts', async (t) => {
  const { prefix } = isolate(t)
  const dir = mkdtempSync(join(tmpdir(), 'plaza-dev-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const first = await startServer(t, { KEY_PREFIX: prefix, DEV_SECRETS_FILE: join(dir, 'dev.json') })
  const { port } = first
  const env = { KEY_PREFIX: prefix, PORT: port, DEV_SECRETS_FILE: join(dir, 'dev.json') }
  const secret = /JWT_SECRET=([\w-]+)/.exec(first.output())?.[1]
  const adminToken = /ADMIN_TOKEN=([\w-]+)/.exec(first.output())?.[1]
  t.ok(secret, 'the generated JWT_SECRET is printed')
  t.ok(adminToken, 'the generated ADMIN_TOKEN is printed')

  const lobby = await fetch(`http://127.0.0.1:${port}/admin/spaces/lobby`, { headers: { authorization: `Bearer ${adminToken}` } })
  t.equal(lobby.status, 200, 'the demo space exists')

  // npm run token signs with the same secret, read from the dev secrets file.
  const token = await runScript('scripts/token.ts', ['--user', 'alice', '--name', 'Alice'], { DEV_SECRETS_FILE: join(dir, 'dev.json') })
  t.match(createVerifier({ key: secret ?? '' })(token), { userId: 'alice', username: 'Alice' })
  const alice = await TestClient.connect(`ws://127.0.0.1:${port}/`)
  t.equal((await alice.join('lobby', token)).userId, 'alice', 'the minted token joins the lobby')
  await alice.close()

  first.child.kill('SIGTERM')
  await first.exited
  const second = await startServer(t, env)
  t.notMatch(second.output(), 'Generated', 'a restart reuses the secrets it generated')
  second.child.kill('SIGTERM')
  await second.exited
})

t.test('no token reaches the logs, even at trace level: not from a join, a query string, a path or a header', async (t) => {
  const { prefix } = isolate(t)
  const server = await startServer(t, testEnv(prefix, { LOG_LEVEL: 'trace' }))
  const token = createSigner({ key: JWT_SECRET })({ userId: 'alice' })
  await fetch(`${server.http}/admin/spaces/plaza`, { method: 'PUT', headers: { authorization: 'Bearer plaza-test-admin-token', 'content-type': 'application/json' }, body: JSON.stringify({ width: 5, height: 5 }) })
  for (const path of [`/nope?token=${token}`, `/ws/${token}`, `/?${token}`, `/?token;${token}`, `/admin/nope?access_token=${token}`]) await fetch(`${server.http}${path}`)
  await fetch(`${server.http}/admin/spaces`, { headers: { authorization: `Bearer ${token}` } })
  await t.rejects(TestClient.connect(`${server.ws}/ws?token=${token}`, 'chat'), /upgrade refused: 400/, 'a refused upgrade is logged too')
  const viaQuery = await TestClient.connect(`${server.ws}/ws?token=${token}`, 'plaza.v1')
  await viaQuery.join('plaza', token)
  await viaQuery.close()
  // Everything logged, the last batch included: written by the time the process has exited.
  server.child.kill('SIGTERM')
  await server.exited
  t.ok(server.output().includes('[SPACE LEAVE]'), 'premise: the output is complete, up to the last leave')
  t.ok(server.output().includes('incoming request'), 'premise: requests are logged')
  t.ok(server.output().includes('refused a WebSocket upgrade'), 'premise: the refused upgrade is logged')
  t.notOk(server.output().includes(token.split('.')[2] ?? token), 'the token (its signature) appears nowhere in the logs')
  t.notOk(server.output().includes(token.split('.')[1] ?? token), 'nor its claims')
})

t.test('at info, each HTTP request is logged, a WebSocket upgrade only when refused, and each join and leave', async (t) => {
  const { prefix } = isolate(t)
  const server = await startServer(t, testEnv(prefix, { LOG_LEVEL: 'info' }))
  // Complete lines only: the last may still be arriving.
  const lines = (): Array<Record<string, unknown>> => server.output().split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  const put = await fetch(`${server.http}/admin/spaces/plaza`, { method: 'PUT', headers: { authorization: 'Bearer plaza-test-admin-token', 'content-type': 'application/json' }, body: JSON.stringify({ width: 5, height: 5 }) })
  t.equal(put.status, 201)
  // An Upgrade header that the Connection header does not name: an ordinary request, logged as one.
  const plain = await new Promise<number>((resolve, reject) => {
    request(`${server.http}/healthz`, { headers: { upgrade: 'websocket' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject).end()
  })
  t.equal(plain, 200)
  const alice = await TestClient.connect(`${server.ws}/ws`, 'plaza.v1')
  await alice.join('plaza', createSigner({ key: JWT_SECRET })({ userId: 'alice' }))
  await t.rejects(TestClient.connect(`${server.ws}/ws`, 'chat'), /upgrade refused: 400/)
  await t.rejects(TestClient.connect(`${server.ws}/nowhere`, 'plaza.v1'), /upgrade refused: 404/)
  await alice.close()
  const left = await settle(lines, (all) => all.some((l) => String(l.msg).includes('[SPACE LEAVE]')))
  const requests = left.filter((l) => l.msg === 'incoming request').map((l) => (l.req as { url: string }).url)
  t.same(requests, ['/admin/spaces/plaza', '/healthz'], 'the HTTP requests are logged; none of the upgrades')
  t.ok(left.some((l) => l.msg === 'request completed' && (l.res as { statusCode: number }).statusCode === 201), 'and their completion')
  const refused = left.filter((l) => l.msg === 'refused a WebSocket upgrade')
  t.equal(refused.length, 2, 'each refused upgrade: one line')
  t.match(refused[0], { level: 30, req: { method: 'GET', url: '/ws', remoteAddress: '127.0.0.1' }, res: { statusCode: 400 } }, 'with what was asked, by whom, and the status')
  t.match(refused[1], { req: { url: '/nowhere', remoteAddress: '127.0.0.1' }, res: { statusCode: 404 } }, 'one to no route too')
  t.equal(left.filter((l) => String(l.msg).includes('[SPACE JOIN]') && l.userId === 'alice').length, 1, 'the join is logged')
})
