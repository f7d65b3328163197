/**
 * The demo page's chat and idle people (PROTOCOL §9, §10) in a real browser (Debian's chromium
 * driven by playwright-core): two windows talk, a third joins later and reads what was said,
 * scrolling up for older messages; a refused message says why; an idle peer shows idle.
 */
import { existsSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import t from 'tap'
import { startApp } from './helpers/app.js'
import { CHROMIUM, framesSentBy, launchBrowser } from './helpers/browser.js'
import { TestClient } from './helpers/client.js'
const WAIT = { timeout: 15_000 }

/** The chat panel of `page` as it shows: each message's author, time and text. */
const chatShown = (page: Page) => page.$$eval('#chat-messages li', (items) => items.map((li) => ({
  who: li.querySelector('.who')?.textContent,
  time: li.querySelector('time')?.textContent,
  text: li.querySelector('.text')?.textContent,
  elements: li.querySelector('.text')?.children.length
})))

/** Until the chat panel of `page` shows a message whose text is `text`. */
const waitForChat = (page: Page, text: string) => page.waitForFunction((text) =>
  [...document.querySelectorAll('#chat-messages .text')].some((el) => el.textContent === text), text, WAIT)

/** Says `text` in the chat box of `page`, with Enter. */
async function say (page: Page, text: string): Promise<void> {
  await page.fill('#chat-input', text)
  await page.press('#chat-input', 'Enter')
}

t.setTimeout(240_000)

if (!existsSync(CHROMIUM)) {
  t.plan(0, `no browser at ${CHROMIUM} (apt-get install chromium; .ci/run does)`)
} else {
  t.test('two windows chat, a third reads the history and older pages, a refusal says why, an idle peer shows idle', async (t) => {
    const space = { id: 'talk', width: 12, height: 8 }
    const { httpBase, wsBase, token, defineSpace } = await startApp(t, {
      GUEST_AUTH: 'true',
      IDLE_AFTER_MS: 1500,
      CHAT_HISTORY_ON_JOIN: 10,
      MAX_CHATS_PER_10S: 100
    })
    await defineSpace(space)
    const browser: Browser = await launchBrowser()
    t.teardown(() => browser.close())
    const errors: string[] = []
    const sent = new Map<Page, Array<{ type: string }>>()
    const open = async (name: string): Promise<Page> => {
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
      page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`))
      sent.set(page, framesSentBy(page))
      await page.goto(`${httpBase}/space/${space.id}`)
      await page.waitForSelector('#sign-in:not([hidden])', WAIT)
      await page.fill('#username', name)
      await page.click('#sign-in button[type=submit]')
      await page.waitForSelector('#status[data-status="connected"]', WAIT)
      return page
    }

    const alice = await open('Alice')
    const bob = await open('Bob')
    const bobSent = sent.get(bob) ?? []
    t.equal(await alice.textContent('#chat-top'), 'No messages yet.')

    // 1. Alice and Bob talk; markup is shown as the characters typed.
    const markup = 'hello <b>Bob</b> & <img src=x onerror=alert(1)>'
    await say(alice, markup)
    await waitForChat(bob, markup)
    await waitForChat(alice, markup)
    t.equal(await alice.inputValue('#chat-input'), '', 'the box is emptied once sent')
    await say(bob, 'hi Alice')
    let bobLastActive = Date.now()
    await waitForChat(alice, 'hi Alice')
    for (const [name, page] of [['Alice', alice], ['Bob', bob]] as const) {
      const shown = await chatShown(page)
      t.match(shown, [{ who: 'Alice', text: markup, elements: 0 }, { who: 'Bob', text: 'hi Alice' }], `${name} sees both, the markup as text`)
      t.match(shown[0]?.time, /\d/, 'with the time')
    }

    // A peer's move redraws the map and the people, never the chat; new messages are only appended.
    await alice.evaluate(() => {
      const seen: Array<{ added: number, removed: number }> = []
      Object.assign(window, { chatMutations: seen })
      new MutationObserver((records) => { for (const r of records) seen.push({ added: r.addedNodes.length, removed: r.removedNodes.length }) })
        .observe(document.getElementById('chat-messages') as HTMLElement, { childList: true })
    })
    const chatMutations = () => alice.evaluate(() => (window as unknown as { chatMutations: Array<{ added: number, removed: number }> }).chatMutations)
    const bobRow = '#people li[data-user-id="guest:bob"]'
    const bobX = await alice.$eval(bobRow, (li) => (li as HTMLElement).dataset.x)
    await bob.focus('#map')
    await bob.keyboard.press(bobX === '0' ? 'ArrowRight' : 'ArrowLeft')
    bobLastActive = Date.now()
    await alice.waitForFunction(({ row, x }) => document.querySelector<HTMLElement>(row)?.dataset.x !== x, { row: bobRow, x: bobX }, WAIT)
    t.same(await chatMutations(), [], 'a move leaves the chat panel alone')

    // 2. More is said than a join brings (CHAT_HISTORY_ON_JOIN 10).
    const dave = await TestClient.connect(`${wsBase}/ws`, 'plaza.v1')
    t.teardown(() => dave.close())
    await dave.join(space.id, token({ userId: 'dave', username: 'Dave' }))
    for (let n = 1; n <= 12; n++) dave.send({ type: 'chat', payload: { text: `message ${n}` } })
    await waitForChat(alice, 'message 12')
    const appended = await chatMutations()
    t.ok(appended.length > 0 && appended.every((m) => m.removed === 0), `new messages are appended, nothing removed (${appended.length} changes)`)

    // 3. Carol comes later: the last ten, then the older ones as she scrolls up.
    const carol = await open('Carol')
    await waitForChat(carol, 'message 12')
    t.same((await chatShown(carol)).map((m) => m.text), Array.from({ length: 10 }, (_, i) => `message ${i + 3}`), 'the last ten, oldest first')
    await carol.$eval('#chat-log', (log) => { log.scrollTop = 0 })
    await waitForChat(carol, markup)
    t.same((await chatShown(carol)).map((m) => m.text), [markup, 'hi Alice', ...Array.from({ length: 12 }, (_, i) => `message ${i + 1}`)],
      'older messages come in above, none twice')
    await carol.waitForFunction(() => document.querySelector('#chat-top')?.textContent === 'The start of the chat.', undefined, WAIT)

    // 4. A message the server refuses: the note says why, the text goes back in the box, nobody gets it.
    const tooLong = 'x'.repeat(501)
    await say(alice, tooLong)
    await alice.waitForSelector('#chat-note:not([hidden])', WAIT)
    const note = await alice.textContent('#chat-note') ?? ''
    t.match(note, /^Not sent: ./, `the server's reason shows: ${note}`)
    t.equal(await alice.inputValue('#chat-input'), tooLong, 'back in the box to be shortened')
    await say(alice, 'shorter')
    await waitForChat(bob, 'shorter')
    t.equal(await alice.isHidden('#chat-note'), true, 'the note goes with the next message')
    t.notOk((await chatShown(bob)).some((m) => m.text === tooLong), 'the refused message reached nobody')

    // 5. Bob does nothing: Alice sees him idle, dimmed on the map; a key press of his brings him back.
    await alice.waitForFunction(() => document.querySelector<HTMLElement>('#people li[data-user-id="guest:bob"]')?.dataset.idle === 'true', undefined, WAIT)
    const row = await alice.$eval('#people li[data-user-id="guest:bob"]', (li) => ({ className: li.className, text: li.textContent }))
    t.match(row, { className: 'idle', text: /Bob \(idle/ })
    const bobAt = await alice.$eval('#people li[data-user-id="guest:bob"]', (li) => ({ x: Number((li as HTMLElement).dataset.x), y: Number((li as HTMLElement).dataset.y) }))
    const alpha = await alice.$eval('#map', (canvas, { at, width }) => {
      const c = canvas as HTMLCanvasElement
      const tile = c.width / width
      return c.getContext('2d')?.getImageData(Math.floor((at.x + 0.5) * tile), Math.floor((at.y + 0.5) * tile), 1, 1).data[3] ?? -1
    }, { at: bobAt, width: space.width })
    t.ok(alpha > 100 && alpha < 220, `Bob's avatar is dimmed (alpha ${alpha} of 255)`)

    // The library sends `active` at most every 5 s after the last activity (his chat).
    await bob.waitForTimeout(Math.max(0, bobLastActive + 5200 - Date.now()))
    await bob.focus('#map')
    await bob.keyboard.press('x')
    bobLastActive = Date.now()
    await alice.waitForFunction(() => document.querySelector<HTMLElement>('#people li[data-user-id="guest:bob"]')?.dataset.idle === 'false', undefined, WAIT)
    t.ok(bobSent.some((f) => f.type === 'active'), 'the key press sent `active`')
    t.match(await alice.textContent('#people li[data-user-id="guest:bob"]'), /^Bob/)
    t.same(errors, [], 'no page error')
  })

  t.test('the chat panel keeps a sane layout beside the map at 1280 px and below it at phone width', async (t) => {
    const { httpBase, defineSpace } = await startApp(t, { GUEST_AUTH: 'true' })
    await defineSpace({ id: 'layout', width: 24, height: 16 })
    const browser: Browser = await launchBrowser()
    t.teardown(() => browser.close())
    for (const [width, height, beside] of [[1280, 800, true], [390, 844, false]] as const) {
      const page = await (await browser.newContext({ viewport: { width, height } })).newPage()
      await page.goto(`${httpBase}/space/layout`)
      await page.fill('#username', `W${width}`)
      await page.click('#sign-in button[type=submit]')
      await page.waitForSelector('#status[data-status="connected"]', WAIT)
      await page.waitForFunction(() => (document.querySelector<HTMLCanvasElement>('#map')?.width ?? 0) > 0, undefined, WAIT)
      const map = await page.$eval('#map', (el) => el.getBoundingClientRect().toJSON() as DOMRect)
      const chat = await page.$eval('#chat', (el) => el.getBoundingClientRect().toJSON() as DOMRect)
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth)
      t.ok(scrollWidth <= width, `${width} px: nothing wider than the window (${scrollWidth})`)
      t.ok(chat.right <= width, `${width} px: the chat fits (right edge ${chat.right})`)
      if (beside) t.ok(chat.left >= map.right, `${width} px: the chat is beside the map`)
      else t.ok(chat.top >= map.bottom, `${width} px: the chat is below the map`)
      t.ok(chat.width >= 200, `${width} px: the chat is ${chat.width} px wide`)
    }
  })
}
