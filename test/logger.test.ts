import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { batchedDestination } from '../src/logger.js'
import { settle } from './helpers/app.js'

/** Log lines go out in batches (LOG_FLUSH_MS): within about the interval, and none lost at exit. */

const root = new URL('..', import.meta.url).pathname
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function logFile (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'plaza-log-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'plaza.log')
}

const read = (file: string): string => {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

t.test('a few lines wait for the interval, then go out together', async (t) => {
  const file = logFile(t)
  const destination = batchedDestination(file, 2000) as ReturnType<typeof pino.destination>
  await once(destination, 'ready')
  const log = pino(destination)
  for (const n of [1, 2, 3]) log.info({ n }, '📊 [SPACE JOIN] a line')
  const started = Date.now()
  await sleep(200)
  t.equal(read(file), '', 'not written one by one')
  const lines = await settle(() => read(file).split('\n').filter(Boolean).length, (n) => n === 3, 5000)
  const after = Date.now() - started
  t.equal(lines, 3, 'all three together')
  t.ok(after <= 3000, `within about the interval (${after} ms of 2000)`)
})

t.test('a full batch goes out without waiting for the interval', async (t) => {
  const file = logFile(t)
  const log = pino(batchedDestination(file, 60_000))
  for (let n = 0; n < 40; n++) log.info({ n }, `a line long enough that forty of them pass four kilobytes ${'·'.repeat(80)}`)
  const written = await settle(() => read(file).length, (n) => n >= 4096, 5000)
  t.ok(written >= 4096, `written long before the minute (${written} bytes)`)
})

t.test('a line longer than a write carries goes out whole, in its place among the others', async (t) => {
  const file = logFile(t)
  const destination = batchedDestination(file, 50) as ReturnType<typeof pino.destination>
  await once(destination, 'ready')
  const log = pino(destination)
  const long = `📊 ${'x'.repeat(20_000)}`
  log.info({ n: 1 }, '📊 [SPACE JOIN] before')
  log.info({ n: 2 }, long)
  log.info({ n: 3 }, '📊 [SPACE JOIN] after')
  const text = await settle(() => read(file), (text) => text.split('\n').filter(Boolean).length >= 3)
  const lines = text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { n: number, msg: string })
  t.same(lines.map((l) => l.n), [1, 2, 3], 'in order')
  t.equal(lines[1]?.msg, long, 'the long line whole')
})

for (const [how, end] of [['its work is done', ''], ['it calls process.exit()', '; process.exit(0)']] as const) {
  t.test(`what is still waiting when the process exits (${how}) is written`, async (t) => {
    const file = logFile(t)
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      // Once its file is open, as standard output always is.
      `import pino from 'pino'; import { batchedDestination } from './src/logger.ts'; const d = batchedDestination(${JSON.stringify(file)}, 60000); d.on('ready', () => { pino(d).info('the last line')${end} })`],
    { cwd: root, stdio: 'ignore' })
    const [code] = await once(child, 'exit') as [number | null]
    t.equal(code, 0)
    t.match(read(file), '"msg":"the last line"')
  })
}

t.test('one destination per target and interval in a process', async (t) => {
  t.equal(batchedDestination(1, 100), batchedDestination(1, 100))
  t.not(batchedDestination(1, 100), batchedDestination(1, 200))
})
