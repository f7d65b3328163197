import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { createVerifier } from 'fast-jwt'
import t from 'tap'
import { isolate, settle, testEnv, JWT_SECRET } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

const root = new URL('..', import.meta.url).pathname

async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  return typeof address === 'object' && address !== null ? address.port : 0
}

/** Runs `src/server.ts` in its own process, as `npm start` does after the build. */
async function startServer (env: Record<string, string | number>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const deadline = Date.now() + 15_000
  while (!output.includes('Server listening')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { child, exited, output: () => output }
}

t.test('the server process serves, and on SIGTERM closes sockets with 1001 and keeps users as ghosts', async (t) => {
  const { prefix, redis } = isolate(t)
  const port = await freePort()
  const server = await startServer({ ...testEnv(prefix, { PORT: port, HOST: '127.0.0.1', LOG_LEVEL: 'info' }) })
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })

  const admin = { authorization: 'Bearer plaza-test-admin-token', 'content-type': 'application/json' }
  const put = await fetch(`http://127.0.0.1:${port}/admin/spaces/plaza`, { method: 'PUT', headers: admin, body: JSON.stringify({ width: 8, height: 8 }) })
  t.equal(put.status, 201)

  const { createSigner } = await import('fast-jwt')
  const token = createSigner({ key: JWT_SECRET })({ userId: 'alice' })
  const alice = await TestClient.connect(`ws://127.0.0.1:${port}/ws`, 'plaza.v1')
  const joined = await alice.join('plaza', token)

  server.child.kill('SIGTERM')
  const closed = await alice.closed
  t.equal(closed.code, 1001, 'sockets close with 1001 going away')
  const [code] = await server.exited
  t.equal(code, 0, 'the process exits cleanly')
  t.notMatch(server.output(), token, 'the token is never logged')

  const entry = await settle(async () => redis.hget(`${prefix}space:plaza:users`, 'alice'), (v) => v !== null)
  t.match(JSON.parse(entry ?? '{}'), { x: (joined.spawn as { x: number }).x, connected: false }, 'alice is a ghost where she stood')
})

t.test('zero-config start generates and prints secrets, seeds the lobby and keeps them across restarts', async (t) => {
  const { prefix } = isolate(t)
  const dir = mkdtempSync(join(tmpdir(), 'plaza-dev-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  const env = { KEY_PREFIX: prefix, PORT: port, HOST: '127.0.0.1', DEV_SECRETS_FILE: join(dir, 'dev.json') }
  const first = await startServer(env)
  t.teardown(() => { if (first.child.exitCode === null) first.child.kill('SIGKILL') })
  const secret = /JWT_SECRET=([\w-]+)/.exec(first.output())?.[1]
  const adminToken = /ADMIN_TOKEN=([\w-]+)/.exec(first.output())?.[1]
  t.ok(secret, 'the generated JWT_SECRET is printed')
  t.ok(adminToken, 'the generated ADMIN_TOKEN is printed')

  const lobby = await fetch(`http://127.0.0.1:${port}/admin/spaces/lobby`, { headers: { authorization: `Bearer ${adminToken}` } })
  t.equal(lobby.status, 200, 'the demo space exists')

  // npm run token signs with the same secret, read from the dev secrets file.
  const token = await new Promise<string>((resolve, reject) => {
    const mint = spawn(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--user', 'alice', '--name', 'Alice'], {
      cwd: root,
      env: { PATH: process.env.PATH, DEV_SECRETS_FILE: join(dir, 'dev.json') }
    })
    let out = ''
    mint.stdout.on('data', (c: Buffer) => { out += c.toString() })
    mint.on('exit', (code) => code === 0 ? resolve(out.trim()) : reject(new Error(`token exited ${code}`)))
  })
  t.match(createVerifier({ key: secret ?? '' })(token), { userId: 'alice', username: 'Alice' })
  const alice = await TestClient.connect(`ws://127.0.0.1:${port}/`)
  t.equal((await alice.join('lobby', token)).userId, 'alice', 'the minted token joins the lobby')
  await alice.close()

  first.child.kill('SIGTERM')
  await first.exited
  const second = await startServer(env)
  t.teardown(() => { if (second.child.exitCode === null) second.child.kill('SIGKILL') })
  t.notMatch(second.output(), 'Generated', 'a restart reuses the secrets it generated')
  second.child.kill('SIGTERM')
  await second.exited
})
