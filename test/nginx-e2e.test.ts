/**
 * deploy/nginx.conf in front of two Plaza servers, the demo page driven through it in a real browser:
 * one server stopped with SIGTERM, and the page comes back through the other, where it stood.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { chromium, type Page } from 'playwright-core'
import t from 'tap'
import { ADMIN_TOKEN, isolate, REDIS_URL, testEnv } from './helpers/app.js'
import { freePort, killOnExit, startServer } from './helpers/process.js'

const CHROMIUM = '/usr/bin/chromium'
const NGINX = '/usr/sbin/nginx'
const WAIT = { timeout: 20_000 }

t.setTimeout(180_000)

/** deploy/nginx.conf with these upstreams, on plain HTTP at `port` (TLS is not what is tested here), its files in `dir`. */
function nginxConfig (dir: string, port: number, upstreams: number[]): string {
  const site = readFileSync(new URL('../deploy/nginx.conf', import.meta.url), 'utf8')
    .replace(/^\s*server 10\.0\.0\.\d+:3000 .*\n/gm, '')
    .replace('upstream plaza {\n', `upstream plaza {\n${upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=10s;\n`).join('')}`)
    .replace('listen 443 ssl;', `listen 127.0.0.1:${port};`)
    .replace(/^\s*ssl_certificate.*\n/gm, '')
  if (!site.includes(`server 127.0.0.1:${upstreams[0]}`) || site.includes('ssl_certificate')) throw new Error('deploy/nginx.conf changed shape')
  // One process (no master and workers): killing it at teardown leaves nothing listening.
  return `daemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n` +
    ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${dir}/${k};\n`).join('') +
    `${site}\n}\n`
}

/** A users-hash entry as Plaza wrote it. */
async function redisEntry (prefix: string, spaceId: string, userId: string): Promise<string> {
  const redis = new Redis(REDIS_URL)
  try {
    return await redis.hget(`${prefix}space:${spaceId}:users`, userId) ?? '{}'
  } finally {
    redis.disconnect()
  }
}

/** Where the page of `viewer` shows `userId`, once it is shown connected. */
const seenAt = async (viewer: Page, userId: string): Promise<{ x: number, y: number }> => {
  const li = await viewer.waitForSelector(`#people li[data-user-id="${userId}"][data-connected="true"]`, WAIT)
  return { x: Number(await li.getAttribute('data-x')), y: Number(await li.getAttribute('data-y')) }
}

if (!existsSync(CHROMIUM) || !existsSync(NGINX)) {
  t.plan(0, `needs ${CHROMIUM} and ${NGINX} (apt-get install chromium nginx; .ci/run does)`)
} else {
  t.test('behind nginx, a server stopped with SIGTERM: the page comes back through the other server, resumed where it stood', async (t) => {
    const { prefix } = isolate(t)
    const env = testEnv(prefix, { GUEST_AUTH: 'true', TRUST_PROXY: '127.0.0.1', DRAIN_DELAY_MS: 200, PING_INTERVAL_MS: 1000 })
    const servers = [await startServer(t, { ...env, SERVER_ID: 'nginx-a' }), await startServer(t, { ...env, SERVER_ID: 'nginx-b' })]
    const dir = mkdtempSync(join(tmpdir(), 'plaza-nginx-'))
    const port = await freePort()
    writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, servers.map((s) => s.port)))
    const nginx: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' })
    killOnExit(nginx)
    t.teardown(async () => {
      nginx.kill('SIGTERM')
      if (nginx.exitCode === null && nginx.signalCode === null) await new Promise((resolve) => nginx.once('exit', resolve))
      rmSync(dir, { recursive: true, force: true })
    })
    const base = `http://127.0.0.1:${port}`
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }
    let ready = 0
    for (const deadline = Date.now() + 10_000; ready !== 200 && Date.now() < deadline;) {
      ready = await fetch(`${base}/readyz`).then((r) => r.status, () => 0)
      if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    t.equal(ready, 200, 'nginx passes /readyz to Plaza')
    t.equal((await fetch(`${base}/admin/spaces/plaza-hall`, { method: 'PUT', headers: admin, body: JSON.stringify({ width: 12, height: 8 }) })).status, 201)

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
    t.teardown(() => browser.close())
    const signIn = async (name: string): Promise<Page> => {
      const page = await (await browser.newContext()).newPage()
      await page.goto(`${base}/space/plaza-hall`)
      await page.fill('#username', name)
      await page.click('#sign-in button[type=submit]')
      await page.waitForSelector('#status[data-status="connected"]', WAIT)
      return page
    }
    const alice = await signIn('Alice')
    const bob = await signIn('Bob')
    const before = await seenAt(bob, 'guest:alice')

    // Stop the server Alice is on (Redis says which); her page reconnects through nginx to the other.
    const entry = JSON.parse(await redisEntry(prefix, 'plaza-hall', 'guest:alice')) as { serverId: string }
    const aliceOn = entry.serverId === 'nginx-a' ? 0 : 1
    const stopped = servers[aliceOn]
    const other = servers[1 - aliceOn]
    if (stopped === undefined || other === undefined) throw new Error('two servers')
    stopped.child.kill('SIGTERM')
    const [code] = await stopped.exited
    t.equal(code, 0, 'the stopped server drained and exited cleanly')

    await alice.waitForSelector('#status[data-status="connected"]', WAIT)
    await bob.waitForSelector('#status[data-status="connected"]', WAIT)
    t.same(await seenAt(bob, 'guest:alice'), before, 'Alice is back where she stood, as Bob sees her')
    const after = await (await fetch(`${other.http}/admin/stats`, { headers: admin })).json() as { totalUsers: number }
    t.equal(after.totalUsers, 2, 'both users are on the server that stayed')
    // And she still walks, through nginx, on the other server.
    const step = before.x > 0 ? { key: 'ArrowLeft', x: before.x - 1 } : { key: 'ArrowRight', x: before.x + 1 }
    await alice.keyboard.press(step.key)
    const moved = await bob.waitForSelector(`#people li[data-user-id="guest:alice"][data-x="${step.x}"]`, WAIT)
    t.equal(Number(await moved.getAttribute('data-y')), before.y, 'a step after the failover reaches Bob')
  })
}
