/**
 * The design's testing scenario, in a real browser (Debian's chromium driven by playwright-core):
 * two windows join one space and see each other, one moves, one loses its network and comes back,
 * one is closed and reopened, and the server restarts under both.
 */
import { existsSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { chromium, type Browser, type Page } from 'playwright-core'
import t from 'tap'
import { buildApp } from '../src/app.js'
import { isolate, testEnv } from './helpers/app.js'
import { freePort } from './helpers/process.js'
import { startProxy } from './helpers/tcp-proxy.js'

const CHROMIUM = '/usr/bin/chromium'
const WAIT = { timeout: 15_000 }

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
    const waitUntil = (page: Page, userId: string, state: Record<string, unknown>) =>
      page.waitForFunction(({ userId, state }) => {
        const li = document.querySelector<HTMLElement>(`#people li[data-user-id="${userId}"]`)
        return li !== null && Object.entries(state).every(([k, v]) => li.dataset[k] === String(v))
      }, { userId, state }, WAIT)

    const alice = await open(aliceContext, `http://127.0.0.1:${relay.port}`, 'Alice')
    const bob = await open(bobContext, `http://127.0.0.1:${port}`, 'Bob')

    // 1. Both see each other.
    await waitUntil(alice, 'guest:bob', { connected: true })
    await waitUntil(bob, 'guest:alice', { connected: true })
    t.match(await seen(alice, 'guest:alice'), { connected: true, text: /Alice \(you\)/ })
    t.equal(await alice.textContent('#status-text'), 'Connected')

    // 2. Alice moves with the keyboard; Bob sees her there.
    const from = await seen(alice, 'guest:alice')
    const blocked = (x: number, y: number) => x < 0 || y < 0 || x >= space.width || y >= space.height || (x >= 5 && x < 7 && y >= 2 && y < 6)
    const [key, dx, dy] = ([['ArrowRight', 1, 0], ['ArrowLeft', -1, 0], ['ArrowDown', 0, 1], ['ArrowUp', 0, -1]] as const)
      .find(([, dx, dy]) => !blocked(from.x + dx, from.y + dy)) ?? ['ArrowRight', 1, 0]
    const to = { x: from.x + dx, y: from.y + dy }
    await alice.keyboard.press(key)
    await waitUntil(alice, 'guest:alice', { x: to.x, y: to.y })
    await waitUntil(bob, 'guest:alice', { x: to.x, y: to.y, connected: true })
    t.pass(`Alice stepped ${key} to (${to.x}, ${to.y}) and Bob saw it`)

    // 3. Alice's network is cut: she shows reconnecting; Bob sees her disconnect, faded where she was.
    relay.cut()
    await aliceContext.setOffline(true)
    await alice.waitForSelector('#status[data-status="reconnecting"]', WAIT)
    t.match(await alice.textContent('#status-text'), /^Reconnecting( in \d+ s)? .*attempt \d of 5/)
    await waitUntil(bob, 'guest:alice', { connected: false, x: to.x, y: to.y })
    t.match(await seen(bob, 'guest:alice'), { text: /Alice \(away\)/ })

    // 4. Her network is back: she reconnects on her own, resumed where she was; both see each other.
    relay.restore()
    await aliceContext.setOffline(false)
    await alice.waitForSelector('#status[data-status="connected"]', WAIT)
    await waitUntil(bob, 'guest:alice', { connected: true, x: to.x, y: to.y })
    await waitUntil(alice, 'guest:alice', { x: to.x, y: to.y })
    await waitUntil(alice, 'guest:bob', { connected: true })

    // 5. Alice closes her window: Bob sees her disconnect. She opens it again and signs in as herself.
    await alice.close()
    await waitUntil(bob, 'guest:alice', { connected: false })
    const reopened = await aliceContext.newPage()
    reopened.on('pageerror', (err) => errors.push(`Alice again: ${err.message}`))
    await reopened.goto(`http://127.0.0.1:${relay.port}/space/e2e`)
    await reopened.waitForSelector('#sign-in:not([hidden])', WAIT)
    t.equal(await reopened.inputValue('#username'), 'Alice', 'the name is remembered')
    await reopened.click('#sign-in button[type=submit]')
    await reopened.waitForSelector('#status[data-status="connected"]', WAIT)
    await waitUntil(reopened, 'guest:bob', { connected: true })
    await waitUntil(reopened, 'guest:alice', { x: to.x, y: to.y })
    await waitUntil(bob, 'guest:alice', { connected: true, x: to.x, y: to.y })
    t.pass('reopened: Alice sees Bob at once, Bob sees her back where she was')

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

    t.same(errors, [], 'no page errors')
  })
}
