/**
 * The operator's page at /admin and the route it reads a space's users from
 * (GET /admin/spaces/:spaceId/users): over real HTTP, with real WebSocket clients, and in a real
 * browser (Debian's chromium driven by playwright-core).
 */
import { existsSync } from 'node:fs'
import type { Browser } from 'playwright-core'
import t from 'tap'
import type { Test } from 'tap'
import { ADMIN_TOKEN, settle, startApp, type TestApp } from './helpers/app.js'
import { CHROMIUM, launchBrowser } from './helpers/browser.js'
import { TestClient } from './helpers/client.js'
import { PrivateRedis } from './helpers/private-redis.js'

const WAIT = { timeout: 15_000 }
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }

interface User { userId: string, username: string, x: number, y: number, connected: boolean, lastActive: number, idle: boolean }
interface Day { date: string, peakUsers: number }

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

t.test('GET /admin and /admin/ serve the page without a token; the data routes still want one', async (t) => {
  const plaza = await startApp(t)
  for (const path of ['/admin', '/admin/']) {
    const response = await fetch(`${plaza.httpBase}${path}`)
    t.equal(response.status, 200, path)
    t.match(response.headers.get('content-type'), /^text\/html/)
    t.match(response.headers.get('content-security-policy'), /default-src 'self'/, 'only the page\'s own scripts may run where the token is')
    t.match(await response.text(), /<form id="token-form"/)
  }
  t.equal((await fetch(`${plaza.httpBase}/admin/spaces`)).status, 401)
  t.equal((await fetch(`${plaza.httpBase}/admin/nothing-here`)).status, 401, 'other /admin paths answer only an operator')
  const script = await fetch(`${plaza.httpBase}/demo/admin.js`)
  t.equal(script.status, 200, 'the page\'s script is built and served')
  t.equal((await fetch(`${plaza.httpBase}/demo/admin.html`)).status, 404, 'the page is not served without its headers')
  t.equal((await fetch(`${plaza.httpBase}/demo/admin.js.map`)).status, 404, 'nor its script\'s source map')
})

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

// A browser on a loaded 2-core machine is slow to start and to paint: more than the default minute.
t.test('in a browser: the token is asked for (and kept nowhere but the tab), a wrong one is refused, the spaces, their users and the chart are shown, and a newcomer appears', { timeout: 180_000, skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium; .ci/run does)` }, async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall', width: 8, height: 8 })
  await plaza.defineSpace({ id: 'quiet' })
  await joined(t, plaza, 'hall', 'alice', 'Alice')
  await joined(t, plaza, 'hall', 'bob', '<b>Bob</b>')
  await settle(() => usersOf(plaza, 'hall'), (r) => r.body.users?.length === 2)
  // Today's peak counts both before the page reads it.
  const analytics = await settle(async () => {
    const response = await fetch(`${plaza.httpBase}/admin/spaces/hall/analytics?days=30`, { headers: admin })
    return { status: response.status, days: (await response.json() as { days?: Day[] }).days ?? [] }
  }, (r) => r.status !== 200 || (r.days[0]?.peakUsers ?? 0) >= 2)
  t.equal(analytics.status, 200, 'the analytics route answers')
  const today = analytics.days[0]
  t.equal(today?.peakUsers, 2, 'today\'s peak: Alice and Bob')

  const browser: Browser = await launchBrowser()
  t.teardown(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(`${plaza.httpBase}/admin`)

  // A wrong token: the 401 is said, and the token can be entered again.
  await page.waitForSelector('#token-form:not([hidden])', WAIT)
  await page.fill('#token', 'not-the-admin-token')
  await page.click('#token-form button[type=submit]')
  await page.waitForFunction(() => document.getElementById('token-error')?.textContent?.includes('401'), undefined, WAIT)
  t.ok(await page.isVisible('#token-form'), 'the form is back')
  t.notOk(await page.isVisible('#console'))
  t.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not kept')

  await page.fill('#token', ADMIN_TOKEN)
  await page.click('#token-form button[type=submit]')
  const hall = '#spaces button[data-space-id="hall"]'
  await page.waitForSelector(hall, WAIT)
  await page.waitForFunction((selector) => document.querySelector(selector)?.textContent?.includes('2 connected'), hall, WAIT)
  t.ok(await page.isVisible('#spaces button[data-space-id="quiet"]'), 'a space with nobody in it is listed too')
  t.equal(await page.evaluate(() => sessionStorage.getItem('plaza.admin-token')), ADMIN_TOKEN, 'the token is kept for this tab')
  t.equal(await page.evaluate(() => localStorage.length), 0, 'and not in localStorage')
  t.equal(await page.evaluate(() => document.cookie), '', 'nor in a cookie')
  t.same(await context.cookies(), [], 'no cookie was set')

  await page.click(hall)
  await page.waitForSelector('#users tr[data-user-id="alice"]', WAIT)
  await page.waitForSelector('#users tr[data-user-id="bob"]', WAIT)
  t.match(await page.textContent('#users tr[data-user-id="alice"]'), /Alice.*alice.*\(\d+, \d+\).*connected/)
  t.equal(await page.textContent('#users tr[data-user-id="bob"] td'), '<b>Bob</b>', 'a name is shown as text, never as markup')
  t.equal(await page.$$eval('#users b', (found) => found.length), 0)

  // The chart: 30 days, today's peak bar as high as two users, its title saying so.
  await page.waitForSelector('#chart svg', WAIT)
  t.equal(await page.$$eval('#chart svg g.day', (days) => days.length), 30, 'a mark for each of 30 days')
  t.equal(await page.$$eval('#chart svg g.day rect', (bars) => bars.length), 60, 'two bars a day: peak users and visits')
  t.equal(await page.$$eval('#days tbody tr', (rows) => rows.length), 30, 'the figures as a table')
  const bar = await page.$eval(`#chart svg g.day[data-date="${today?.date}"]`, (g) => ({
    height: Number(g.querySelector('rect.peak')?.getAttribute('height')),
    title: g.querySelector('title')?.textContent
  }))
  t.ok(bar.height > 0, `today's peak bar is ${bar.height} high`)
  t.match(bar.title, `${today?.date}: peak 2 users`, 'its title names the peak')

  // Live: someone who joins now is listed at the next poll of the space's users (every 5 s).
  await joined(t, plaza, 'hall', 'carol', 'Carol')
  await page.waitForSelector('#users tr[data-user-id="carol"]', { timeout: 10_000 })
  t.match(await page.textContent('#users tr[data-user-id="carol"]'), /Carol.*carol.*connected/)
  t.same(errors, [], 'no script error on the page')

  // A phone's width: nothing is wider than the screen but the tables' own scroll boxes.
  await page.setViewportSize({ width: 375, height: 800 })
  t.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'the page fits a phone\'s width')
})
