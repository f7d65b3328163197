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
import { framesSentBy } from './helpers/browser.js'
import { sampleValue, scrape } from './helpers/metrics.js'
import { freePort } from './helpers/process.js'
import { startProxy } from './helpers/tcp-proxy.js'

const CHROMIUM = '/usr/bin/chromium'
const WAIT = { timeout: 15_000 }

/** Moves the server accepted, from its /metrics. */
const acceptedMoves = async (httpBase: string): Promise<number | undefined> =>
  sampleValue(await scrape(httpBase), 'plaza_moves_total', { result: 'accepted' })

/** The people list of `page` as it shows `userId`: position and whether connected. */
const seen = (page: Page, userId: string) => page.$eval(`#people li[data-user-id="${userId}"]`,
  (li) => ({ x: Number((li as HTMLElement).dataset.x), y: Number((li as HTMLElement).dataset.y), connected: (li as HTMLElement).dataset.connected === 'true', text: li.textContent }))

/** Until the people list of `page` shows `userId` with every `state` field (data-x, data-connected…). */
const waitUntil = (page: Page, userId: string, state: Record<string, unknown>) =>
  page.waitForFunction(({ userId, state }) => {
    const li = document.querySelector<HTMLElement>(`#people li[data-user-id="${userId}"]`)
    return li !== null && Object.entries(state).every(([k, v]) => li.dataset[k] === String(v))
  }, { userId, state }, WAIT)

// A browser on a loaded 2-core machine is slow to start and to paint: more than the default minute.
t.setTimeout(240_000)

if (!existsSync(CHROMIUM)) {
  t.plan(0, `no browser at ${CHROMIUM} (apt-get install chromium; .ci/run does)`)
} else {
  t.test('two windows see each other, moves, a network cut, a closed window and a server restart', async (t) => {
    const { prefix, closers } = isolate(t)
    const port = await freePort()
    const httpBase = `http://127.0.0.1:${port}`
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
    /** The opacity (0–255) of what is drawn at the centre of tile `at` on the page's map (the map itself is transparent). */
    const opacityAt = (page: Page, at: { x: number, y: number }) => page.$eval('#map', (canvas, { at, width }) => {
      const c = canvas as HTMLCanvasElement
      const tile = c.width / width
      return c.getContext('2d')?.getImageData(Math.floor((at.x + 0.5) * tile), Math.floor((at.y + 0.5) * tile), 1, 1).data[3] ?? -1
    }, { at, width: space.width })

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
    t.match(await seen(bob, 'guest:alice'), { ...to, connected: true }, `Alice stepped ${key} to (${to.x}, ${to.y}) and Bob saw it`)

    step('Alice moved')
    // 3. Alice's browser goes offline (DevTools' switch): her page drops the connection at once, so
    // Bob sees her fade, where she was, although the browser would go on answering pings.
    const live = await opacityAt(bob, to)
    const aliceSent = framesSentBy(alice)
    await aliceContext.setOffline(true)
    await alice.waitForSelector('#status[data-status="offline"]', WAIT)
    t.equal(await alice.textContent('#status-text'), 'Offline: no network; reconnecting when it is back')
    await waitUntil(bob, 'guest:alice', { connected: false, x: to.x, y: to.y })
    t.match(await seen(bob, 'guest:alice'), { text: /Alice \(away\)/ })
    const faded = await opacityAt(bob, to)
    t.ok(live === 255 && faded > 0 && faded < 128, `her avatar is drawn faded on Bob's map (opacity ${live} → ${faded})`)
    // Keys while offline move nothing, on her screen or on return (only the server could say yes).
    // 120 ms apart: the page takes one step per 100 ms.
    const accepted = await acceptedMoves(httpBase)
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
    // Then she steps back and forth. Whatever her page had kept from offline would have gone out on
    // this socket before these steps, and been handled before Bob sees them.
    const opposite = { ArrowRight: 'ArrowLeft', ArrowLeft: 'ArrowRight', ArrowDown: 'ArrowUp', ArrowUp: 'ArrowDown' } as const
    await alice.keyboard.press(opposite[key])
    await waitUntil(bob, 'guest:alice', { x: from.x, y: from.y })
    await alice.waitForTimeout(120)
    await alice.keyboard.press(key)
    await waitUntil(bob, 'guest:alice', { x: to.x, y: to.y })
    t.same(aliceSent.filter((f) => f.type === 'move').map((f) => f.payload), [{ x: from.x, y: from.y }, to], 'nothing was sent on her return: her page sent these two steps, no other move')
    t.equal(await acceptedMoves(httpBase), (accepted ?? Number.NaN) + 2, 'and the server accepted those two moves only')
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
    t.match({ bob: await seen(reopened, 'guest:bob'), alice: await seen(bob, 'guest:alice') }, { bob: { connected: true }, alice: { ...to, connected: true } },
      'reopened: Alice sees Bob at once, Bob sees her back where she was')

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
    t.match({ bob: await seen(reopened, 'guest:bob'), alice: await seen(bob, 'guest:alice') }, { bob: { x: bobAt.x, y: bobAt.y, connected: true }, alice: { ...to, connected: true } },
      'after the restart both are back, each where they were')
    step('both back after the restart')

    t.same(errors, [], 'no page errors')
  })

  t.test('the demo\'s other states: leave and join again, a second window taking over, an unknown space', async (t) => {
    const { httpBase, defineSpace } = await startApp(t, { GUEST_AUTH: 'true' })
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
    t.equal(sampleValue(await scrape(httpBase), 'plaza_leaves_total'), 1, 'the server counted one leave')

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
    t.equal(sampleValue(await scrape(httpBase), 'plaza_joins_total', { kind: 'takeover' }), 2, 'taken over, and back')
    t.equal((await alice.$$('#people li[data-user-id="guest:bob"]')).length, 1, 'Alice saw one Bob all along')

    // Keys in the window taken over move nothing: there is nobody to tell. Then Bob steps in his
    // window: by the time Alice sees that step, a move from the other window would show.
    const bob2Sent = framesSentBy(bob2)
    const before = await acceptedMoves(httpBase)
    await bob2.keyboard.press('ArrowUp')
    await bob2.waitForTimeout(120)
    await bob2.keyboard.press('ArrowDown')
    const bobAt = await seen(bob, 'guest:bob')
    const [key, dx] = bobAt.x + 1 < 8 ? ['ArrowRight', 1] : ['ArrowLeft', -1]
    await bob.keyboard.press(key)
    await waitUntil(alice, 'guest:bob', { x: bobAt.x + dx, y: bobAt.y, connected: true })
    t.same(bob2Sent, [], 'the window taken over sent nothing')
    t.equal(await acceptedMoves(httpBase), (before ?? Number.NaN) + 1, 'the server accepted Bob\'s one step only')
    t.equal(await bob2.getAttribute('#status', 'data-status'), 'offline', 'and that window is still offline')

    // A space that does not exist: said so, with no button that cannot help.
    const lost = await (await browser.newContext()).newPage()
    await signIn(lost, '/space/nowhere', 'Carol')
    await lost.waitForSelector('#status[data-status="offline"]', WAIT)
    t.equal(await lost.textContent('#status-text'), 'Offline: there is no space "nowhere" on this server')
    t.equal(await lost.isVisible('#retry'), false)
  })
}
