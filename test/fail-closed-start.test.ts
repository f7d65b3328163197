import { spawn } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { isolate } from './helpers/app.js'
import { startServer } from './helpers/process.js'

const root = new URL('..', import.meta.url).pathname

/** A secret of `bytes` bytes, unlike any other: if it shows up somewhere, it was written there. */
const secret = (bytes: number): string => randomBytes(bytes).toString('hex').slice(0, bytes)

/** A DEV_SECRETS_FILE path in a directory of the test's own, removed at teardown. */
function devSecretsFile (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'plaza-fail-closed-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'dev.json')
}

/**
 * Runs the server process (`server/main.ts`, as `npm start` does) with `env` and nothing else of this
 * process's environment, until it exits: its exit code and everything it wrote. A server that starts
 * after all is stopped at once (it then exits 0, which fails the test that expected a refusal).
 */
async function runToExit (env: Record<string, string>): Promise<{ code: number | null, output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  const collect = (chunk: Buffer): void => {
    output += chunk.toString()
    if (output.includes('Server listening')) child.kill('SIGTERM')
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000)
  // 'close', not 'exit': by then all it wrote has been read.
  const [code] = await once(child, 'close') as [number | null]
  clearTimeout(deadline)
  return { code, output }
}

const publicKeyPem = (): string => generateKeyPairSync('ec', {
  namedCurve: 'P-256',
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' }
}).publicKey

t.test('a misconfigured start stops with a non-zero exit, naming the variable, and writes no secret anywhere', async (t) => {
  const { prefix } = isolate(t)
  const jwtSecret = secret(40)
  const adminToken = secret(40)
  const cases: Array<[string, Record<string, string>, RegExp[]]> = [
    ['JWT_SECRET without ADMIN_TOKEN', { JWT_SECRET: jwtSecret }, [/ADMIN_TOKEN/]],
    ['JWT_PUBLIC_KEY without ADMIN_TOKEN', { JWT_PUBLIC_KEY: publicKeyPem() }, [/ADMIN_TOKEN/]],
    ['NODE_ENV=production and nothing set', { NODE_ENV: 'production' }, [/JWT_SECRET/, /JWT_PUBLIC_KEY/, /ADMIN_TOKEN/]],
    ['NODE_ENV=production without a JWT key', { NODE_ENV: 'production', ADMIN_TOKEN: adminToken }, [/JWT_SECRET/, /JWT_PUBLIC_KEY/]],
    ['NODE_ENV=production, JWT_SECRET of 31 bytes', { NODE_ENV: 'production', JWT_SECRET: secret(31), ADMIN_TOKEN: adminToken }, [/JWT_SECRET/, /32 bytes/]],
    ['NODE_ENV=production, ADMIN_TOKEN of 31 bytes', { NODE_ENV: 'production', JWT_SECRET: jwtSecret, ADMIN_TOKEN: secret(31) }, [/ADMIN_TOKEN/, /32 bytes/]],
    ['TRUST_PROXY as a hop count', { JWT_SECRET: jwtSecret, ADMIN_TOKEN: adminToken, TRUST_PROXY: '1' }, [/TRUST_PROXY/]]
  ]
  // Two at a time: each is a process start of its own.
  for (let i = 0; i < cases.length; i += 2) {
    await Promise.all(cases.slice(i, i + 2).map(async ([name, env, named]) => {
      const file = devSecretsFile(t)
      const { code, output } = await runToExit({ KEY_PREFIX: prefix, DEV_SECRETS_FILE: file, ...env })
      t.not(code, 0, `${name}: the process exits non-zero`)
      const refusal = /Plaza did not start: (.*)/.exec(output)?.[1] ?? ''
      for (const pattern of named) t.match(refusal, pattern, `${name}: the message names ${pattern.source}`)
      for (const variable of ['JWT_SECRET', 'ADMIN_TOKEN'] as const) {
        const value = env[variable]
        if (value !== undefined) t.notOk(output.includes(value), `${name}: the operator's ${variable} is not in the output`)
      }
      t.notMatch(output, /🔑/, `${name}: nothing is generated or printed`)
      t.notOk(existsSync(file), `${name}: no dev secrets file is written`)
    }))
  }
})

t.test('development mode with the operator\'s ADMIN_TOKEN: only the generated JWT_SECRET is printed and kept', async (t) => {
  const { prefix } = isolate(t)
  const file = devSecretsFile(t)
  const adminToken = secret(40)
  const server = await startServer(t, { KEY_PREFIX: prefix, DEV_SECRETS_FILE: file, ADMIN_TOKEN: adminToken })
  const printed = /JWT_SECRET=([\w-]+)/.exec(server.output())?.[1]
  t.ok(printed, 'the generated JWT_SECRET is printed')
  const stats = await fetch(`${server.http}/admin/stats`, { headers: { authorization: `Bearer ${adminToken}` } })
  t.equal(stats.status, 200, 'the operator\'s ADMIN_TOKEN is the admin token')
  server.child.kill('SIGTERM')
  await server.exited
  t.notOk(server.output().includes(adminToken), 'the operator\'s ADMIN_TOKEN never reaches the output')
  t.notMatch(server.output(), /ADMIN_TOKEN=/, 'no admin token is printed at all')
  t.strictSame(JSON.parse(readFileSync(file, 'utf8')), { JWT_SECRET: printed }, 'the dev secrets file keeps the generated secret and nothing else')
})

t.test('NODE_ENV=production with every secret set: starts, prints no secret, no guest sign-in, no dev secrets file', async (t) => {
  const { prefix } = isolate(t)
  const file = devSecretsFile(t)
  const env = { KEY_PREFIX: prefix, DEV_SECRETS_FILE: file, NODE_ENV: 'production', JWT_SECRET: secret(32), ADMIN_TOKEN: secret(32) }
  const server = await startServer(t, env)
  const guest = await fetch(`${server.http}/auth/guest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'Eve' }) })
  t.equal(guest.status, 404, 'POST /auth/guest does not exist')
  server.child.kill('SIGTERM')
  t.equal((await server.exited)[0], 0, 'it ran, and stops cleanly')
  t.notOk(server.output().includes(env.JWT_SECRET) || server.output().includes(env.ADMIN_TOKEN), 'neither secret reaches the output')
  t.notMatch(server.output(), /🔑/, 'nothing generated, nothing printed')
  t.notOk(existsSync(file), 'no dev secrets file')

  const withGuests = await startServer(t, { ...env, GUEST_AUTH: 'true' })
  const signedIn = await fetch(`${withGuests.http}/auth/guest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'Eve' }) })
  t.equal(signedIn.status, 200, 'GUEST_AUTH=true turns it on')
  withGuests.child.kill('SIGTERM')
  await withGuests.exited
})
