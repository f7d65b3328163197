/**
 * Takes the README's screenshot of the demo page: three guests in the `lobby` of a running
 * development server (npm start), one of whom has dropped and shows as a ghost.
 *   npx tsx scripts/screenshot.ts [http://localhost:3000] [docs/demo.png]
 */
import { chromium, type Page } from 'playwright-core'

const base = process.argv[2] ?? 'http://localhost:3000'
const out = process.argv[3] ?? 'docs/demo.png'
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
try {
  const join = async (name: string, steps: string[]): Promise<Page> => {
    const page = await (await browser.newContext({ viewport: { width: 1100, height: 640 } })).newPage()
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
  const ghost = await join('Carol', ['ArrowDown', 'ArrowDown'])
  await join('Bob', ['ArrowRight', 'ArrowRight', 'ArrowUp'])
  const alice = await join('Alice', ['ArrowLeft', 'ArrowDown'])
  await ghost.close()
  await alice.waitForSelector('#people li.ghost')
  await alice.screenshot({ path: out })
  process.stdout.write(`${out}\n`)
} finally {
  await browser.close()
}
