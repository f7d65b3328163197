import { chromium, type Browser, type Page } from 'playwright-core'

/** Debian's chromium: playwright-core downloads no browser. Tests without it are skipped. */
export const CHROMIUM = '/usr/bin/chromium'

/** A headless chromium, as every browser test starts it. */
export function launchBrowser (): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
  })
}

/** Every frame `page` sends over the WebSockets it opens from now on, parsed, in order. */
export function framesSentBy (page: Page): Array<{ type: string, payload: Record<string, unknown> }> {
  const frames: Array<{ type: string, payload: Record<string, unknown> }> = []
  page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => { frames.push(JSON.parse(String(payload))) }))
  return frames
}
