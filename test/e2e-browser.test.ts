/**
 * The design's testing scenario, in a real browser (Debian's chromium driven by playwright-core):
 * two windows join one space and see each other, one moves, one loses its network and comes back,
 * one is closed and reopened, and the server restarts under both.
 */
import { existsSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { chromium, type Browser, type Page } from 'playwright-core'
import t from 'tap'
import { buildApp } from '../server/app.js'
import { isolate, startApp, testEnv } from './helpers/app.js'
import { freePort } from './helpers/process.js'
import { startProxy } from './helpers/tcp-proxy.js'

const CHROMIUM = '/usr/bin/chromium'
const WAIT = { timeout: 15_000 }

// A browser on a loaded 2-core machine is slow to start and to paint: more than the default minute.
t.setTimeout(240_000)

if (!existsSync(CHROMIUM)) {
  t.plan(0, `no browser at ${CHROMIUM} (apt-get install chromium; .ci/run does)`)
} else {
  t.test('two windows see each other, moves, a network cut, a closed window and a server restart', async (t) => {
    const { prefix, closers } = isolate(t)
    const port = await freePort()
    // A short ping interval so that the server notices a cut network within a second.
    const env = testEnv(prefix, { GUEST_AUTH: 'true', PING_INTERVAL_MS: 300 })
    let app: FastifyInstance | undefined
    const start = async () => {
      app = await buildApp(env)
      await app.listen({ port, host: '127.0.0.1' })
      return app
    }
    closers.push(async () => app?.close())
    const space = { id: 'e2e', width: 12, height: 8, obstacles: [{ x: 5, y: 2, width: 2, height: 4 }] }
    await (await start()).spaces.put(space)

    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
    })
    t.teardown(() => browser.close())
    // Alice reaches the server through a relay that can cut her network; Bob connects directly.
    const relay = await startProxy(t, port)
    const aliceContext = await browser.newContext()
    const bobContext = await browser.newContext()
    const errors: string[] = []

    const open = async (context: typeof aliceContext, base: string, name: string): Promise<Page> => {
      const page = await context.newPage()
      page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`))
      await page.goto(`${base}/space/e2e`)
      await page.waitForSelector('#sign-in:not([hidden])', WAIT)
      await page.fill('#username', name)
      await page.click('#sign-in button[type=submit]')
      await page.waitForSelector('#status[data-status="connected"]', WAIT)
      return page
    }
    /** The people list of `page` as it shows `userId`: position and whether connected. */
    const seen = (page: Page, userId: string) => page.$eval(`#people li[data-user-id="${userId}"]`,
      (li) => ({ x: Number((li as HTMLElement).dataset.x), y: Number((li as HTMLElement).dataset.y), connected: (li as HTMLElement).dataset.connected === 'true', text: li.textContent }))
    /** The opacity (0–255) of what is drawn at the centre of tile `at` on the page's map (the map itself is transparent). */
    const opacityAt = (page: Page, at: { x: number, y: number }) => page.$eval('#map', (canvas, { at, width }) => {
      const c = canvas as HTMLCanvasElement
      const tile = c.width / width
      return c.getContext('2d')?.getImageData(Math.floor((at.x + 0.5) * tile), Math.floor((at.y + 0.5) * tile), 1, 1).data[3] ?? -1
    }, { at, width: space.width })
    const waitUntil = (page: Page, userId: string, state: Record<string, unknown>) =>
      page.waitForFunction(({ userId, state }) => {
        const li = document.querySelector<HTMLElement>(`#people li[data-user-id="${userId}"]`)
        return li !== null && Object.entries(state).every(([k, v]) => li.dataset[k] === String(v))
      }, { userId, state }, WAIT)

    const began = Date.now()
    const step = (name: string) => t.comment(`${((Date.now() - began) / 1000).toFixed(1)} s: ${name}`)

    const alice = await open(aliceContext, `http://127.0.0.1:${relay.port}`, 'Alice')
    const bob = await open(bobContext, `http://127.0.0.1:${port}`, 'Bob')

    // 1. Both see each other.
    await waitUntil(alice, 'guest:bob', { connected: true })
    await waitUntil(bob, 'guest:alice', { connected: true })
    t.match(await seen(alice, 'guest:alice'), { connected: true, text: /Alice \(you\)/ })
    t.equal(await alice.textContent('#status-text'), 'Connected')

    step('both joined and see each other')
    // 2. Alice moves with the keyboard; Bob sees her there.
    const from = await seen(alice, 'guest:alice')
    const blocked = (x: number, y: number) => x < 0 || y < 0 || x >= space.width || y >= space.height || (x >= 5 && x < 7 && y >= 2 && y < 6)
    const bobSpawn = await seen(bob, 'guest:bob')
    const [key, dx, dy] = ([['ArrowRight', 1, 0], ['ArrowLeft', -1, 0], ['ArrowDown', 0, 1], ['ArrowUp', 0, -1]] as const)
      .find(([, dx, dy]) => !blocked(from.x + dx, from.y + dy) && !(from.x + dx === bobSpawn.x && from.y + dy === bobSpawn.y)) ?? ['ArrowRight', 1, 0]
    const to = { x: from.x + dx, y: from.y + dy }
    await alice.keyboard.press(key)
    await waitUntil(alice, 'guest:alice', { x: to.x, y: to.y })
    await waitUntil(bob, 'guest:alice', { x: to.x, y: to.y, connected: true })
    t.pass(`Alice stepped ${key} to (${to.x}, ${to.y}) and Bob saw it`)

    step('Alice moved')
    // 3. Alice's browser goes offline (DevTools' switch): her page drops the connection at once, so
    // Bob sees her fade, where she was, although the browser would go on answering pings.
    const live = await opacityAt(bob, to)
    await aliceContext.setOffline(true)
    await alice.waitForSelector('#status[data-status="offline"]', WAIT)
    t.equal(await alice.textContent('#status-text'), 'Offline: no network; reconnecting when it is back')
    await waitUntil(bob, 'guest:alice', { connected: false, x: to.x, y: to.y })
    t.match(await seen(bob, 'guest:alice'), { text: /Alice \(away\)/ })
    const faded = await opacityAt(bob, to)
    t.ok(live === 255 && faded > 0 && faded < 128, `her avatar is drawn faded on Bob's map (opacity ${live} → ${faded})`)
    // Keys while offline move nothing, on her screen or on return (only the server could say yes).
    const accepted = app?.roomManager.counters.moves.accepted
    for (const k of ['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight']) {
      await alice.keyboard.press(k)
      await alice.waitForTimeout(120)
    }
    t.match(await seen(alice, 'guest:alice'), { x: to.x, y: to.y }, 'her avatar stays where the server has her')

    // Back online: she reconnects at once, resumed where she was; both see each other.
    await aliceContext.setOffline(false)
    await alice.waitForSelector('#status[data-status="connected"]', WAIT)
    await waitUntil(bob, 'guest:alice', { connected: true, x: to.x, y: to.y })
    await waitUntil(alice, 'guest:alice', { x: to.x, y: to.y })
    await waitUntil(alice, 'guest:bob', { connected: true })
    await alice.waitForTimeout(300)
    t.equal(app?.roomManager.counters.moves.accepted, accepted, 'and nothing was sent on her return')
    step('offline and back')

    // 4. A cut the browser does not know about (the relay resets her connection and refuses new
    // ones; the server hears nothing and finds out by its ping): she counts down to her attempts.
    relay.cut()
    await alice.waitForSelector('#status[data-status="reconnecting"]', WAIT)
    t.match(await alice.textContent('#status-text'), /^Reconnecting( in \d+ s)? \(attempt \d of 5\)$/)
    await waitUntil(bob, 'guest:alice', { connected: false, x: to.x, y: to.y })
    relay.restore()
    await alice.waitForSelector('#status[data-status="connected"]', WAIT)
    await waitUntil(bob, 'guest:alice', { connected: true, x: to.x, y: to.y })
    await waitUntil(alice, 'guest:alice', { x: to.x, y: to.y })
    step('network cut and restored')

    // 5. Alice closes her window: Bob sees her disconnect. She opens it again and signs in as herself.
    await alice.close()
    await waitUntil(bob, 'guest:alice', { connected: false })
    const reopened = await aliceContext.newPage()
    reopened.on('pageerror', (err) => errors.push(`Alice again: ${err.message}`))
    await reopened.goto(`http://127.0.0.1:${relay.port}/space/e2e`)
    await reopened.waitForSelector('#sign-in:not([hidden])', WAIT)
    await reopened.fill('#username', 'Alice')
    await reopened.click('#sign-in button[type=submit]')
    await reopened.waitForSelector('#status[data-status="connected"]', WAIT)
    await waitUntil(reopened, 'guest:bob', { connected: true })
    await waitUntil(reopened, 'guest:alice', { x: to.x, y: to.y })
    await waitUntil(bob, 'guest:alice', { connected: true, x: to.x, y: to.y })
    t.pass('reopened: Alice sees Bob at once, Bob sees her back where she was')

    step('Alice reopened and resumed')
    // 6. The server restarts under both: both reconnect on their own and see each other again.
    const bobAt = await seen(bob, 'guest:bob')
    await app?.close()
    await reopened.waitForSelector('#status[data-status="reconnecting"]', WAIT)
    await bob.waitForSelector('#status[data-status="reconnecting"]', WAIT)
    await start()
    await reopened.waitForSelector('#status[data-status="connected"]', WAIT)
    await bob.waitForSelector('#status[data-status="connected"]', WAIT)
    await waitUntil(bob, 'guest:alice', { connected: true, x: to.x, y: to.y })
    await waitUntil(reopened, 'guest:bob', { connected: true, x: bobAt.x, y: bobAt.y })
    t.pass('after the restart both are back, each where they were')
    step('both back after the restart')

    t.same(errors, [], 'no page errors')
  })

  t.test('the demo\'s other states: leave and join again, a second window taking over, an unknown space', async (t) => {
    const { app, httpBase, defineSpace } = await startApp(t, { GUEST_AUTH: 'true' })
    await defineSpace({ id: 'states', width: 8, height: 8 })
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
    t.teardown(() => browser.close())
    const signIn = async (page: Page, path: string, name: string) => {
      await page.goto(`${httpBase}${path}`)
      await page.fill('#username', name)
      await page.click('#sign-in button[type=submit]')
    }
    const alice = await (await browser.newContext()).newPage()
    const bobContext = await browser.newContext()
    const bob = await bobContext.newPage()
    await signIn(alice, '/space/states', 'Alice')
    await signIn(bob, '/space/states', 'Bob')
    await bob.waitForSelector('#people li[data-user-id="guest:alice"][data-connected="true"]', WAIT)

    // Leave: Bob sees her go; her map and list empty, and she can join again.
    await alice.click('#leave')
    await alice.waitForSelector('#status[data-status="idle"]', WAIT)
    t.equal(await alice.textContent('#status-text'), 'You left the space')
    t.equal(await alice.isVisible('#map'), false, 'no map out of the space')
    t.equal(await alice.isVisible('#leave'), false)
    t.equal(await alice.$$eval('#people li', (lis) => lis.length), 0)
    await bob.waitForSelector('#people li[data-user-id="guest:alice"]', { ...WAIT, state: 'detached' })
    await alice.click('#retry')
    await alice.waitForSelector('#status[data-status="connected"]', WAIT)
    await bob.waitForSelector('#people li[data-user-id="guest:alice"][data-connected="true"]', WAIT)
    t.equal(app.roomManager.counters.leaves, 1)

    // Bob opens a second window as himself: the first says so and offers to take it back.
    const bob2 = await bobContext.newPage()
    await signIn(bob2, '/space/states', 'Bob')
    await bob2.waitForSelector('#status[data-status="connected"]', WAIT)
    await bob.waitForSelector('#status[data-status="offline"]', WAIT)
    t.equal(await bob.textContent('#status-text'), 'Offline: this space was opened in another window')
    t.equal(await bob.textContent('#retry'), 'Use it here')
    await bob.click('#retry')
    await bob.waitForSelector('#status[data-status="connected"]', WAIT)
    await bob2.waitForSelector('#status[data-status="offline"]', WAIT)
    t.equal(app.roomManager.counters.joins.takeover, 2, 'taken over, and back')
    t.equal((await alice.$$('#people li[data-user-id="guest:bob"]')).length, 1, 'Alice saw one Bob all along')

    // Keys while offline move nothing: there is nobody to tell.
    const before = app.roomManager.counters.moves.accepted
    await bob2.keyboard.press('ArrowUp')
    await bob2.keyboard.press('ArrowDown')
    t.equal(app.roomManager.counters.moves.accepted, before)

    // A space that does not exist: said so, with no button that cannot help.
    const lost = await (await browser.newContext()).newPage()
    await signIn(lost, '/space/nowhere', 'Carol')
    await lost.waitForSelector('#status[data-status="offline"]', WAIT)
    t.equal(await lost.textContent('#status-text'), 'Offline: there is no space "nowhere" on this server')
    t.equal(await lost.isVisible('#retry'), false)
  })
}
