/**
 * Takes the README's screenshot of the demo page: three guests in the `lobby` of a running
 * development server (npm start), who say a few words in the chat; then one of them drops and
 * shows as a ghost. The lobby's chat history is kept: clear it first for a clean picture
 * (DELETE /admin/spaces/lobby/chat with the admin token).
 *   npx tsx scripts/screenshot.ts [http://localhost:3000] [docs/demo.png]
 */
import { chromium, type Page } from 'playwright-core'

const base = process.argv[2] ?? 'http://localhost:3000'
const out = process.argv[3] ?? 'docs/demo.png'
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
try {
  const join = async (name: string, steps: string[]): Promise<Page> => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage()
    await page.goto(`${base}/space/lobby`)
    await page.fill('#username', name)
    await page.click('#sign-in button[type=submit]')
    await page.waitForSelector('#status[data-status="connected"]')
    for (const key of steps) {
      await page.keyboard.press(key)
      await page.waitForTimeout(120)
    }
    return page
  }
  const say = async (page: Page, text: string): Promise<void> => {
    await page.fill('#chat-input', text)
    await page.press('#chat-input', 'Enter')
    await page.waitForTimeout(150)
  }
  const ghost = await join('Carol', ['ArrowDown', 'ArrowDown'])
  const bob = await join('Bob', ['ArrowRight', 'ArrowRight', 'ArrowUp'])
  const alice = await join('Alice', ['ArrowLeft', 'ArrowDown'])
  await say(ghost, 'Morning! Off to a meeting, back in an hour.')
  await say(bob, 'Morning Carol. Alice, lunch at 12?')
  await say(alice, 'Sounds good: by the fountain?')
  await ghost.close()
  await alice.waitForSelector('#people li.ghost')
  await alice.screenshot({ path: out })
  process.stdout.write(`${out}\n`)
} finally {
  await browser.close()
}
