import { readFileSync } from 'node:fs'
import t from 'tap'
import { ADMIN_TOKEN, isolate, settle, startApp, type TestApp } from './helpers/app.js'

/**
 * A PUT of the largest space the defaults allow does not hold the event loop: neither on the server
 * that handles it nor on one that reads it after the control channel's message. Both servers run in
 * this process, so a ticker here sees either one's blocking.
 */

/** 1024×1024 tiles (MAX_SPACE_CELLS) and 10,000 obstacles (MAX_OBSTACLES_PER_SPACE), each nearly the whole space. */
const WIDTH = 1024
const LARGEST = {
  width: WIDTH,
  height: WIDTH,
  obstacles: Array.from({ length: 10_000 }, (_, i) => ({ x: i % 2, y: 0, width: WIDTH - 1, height: WIDTH - 1 }))
}

/** Generous: a few milliseconds are expected; the old code held the loop for about a second per build. */
const MAX_TICKER_CPU_MS = 100
const MAX_STALL_MS = 400

/**
 * The CPU time of this thread in ms, when Linux says (`/proc/thread-self/schedstat`): unlike a
 * clock, it does not count the time other processes of a busy machine had the CPU.
 */
function threadCpuMs (): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6
  } catch {
    return undefined
  }
}

/** A 1 ms ticker: the longest gap between its ticks, by the clock and in CPU time spent meanwhile. */
function ticker (): { stop: () => { wallMs: number, cpuMs: number | undefined } } {
  let wallMs = 0
  let cpuMs: number | undefined
  let last = performance.now()
  let lastCpu = threadCpuMs()
  const timer = setInterval(() => {
    const now = performance.now()
    const cpu = threadCpuMs()
    wallMs = Math.max(wallMs, now - last)
    if (cpu !== undefined && lastCpu !== undefined) cpuMs = Math.max(cpuMs ?? 0, cpu - lastCpu)
    last = now
    lastCpu = cpu
  }, 1)
  return { stop: () => { clearInterval(timer); return { wallMs, cpuMs } } }
}

/** Polls GET /healthz on `plaza` until `done` resolves; the slowest answer, in ms. */
async function slowestHealthz (plaza: TestApp, done: Promise<unknown>): Promise<number> {
  let finished = false
  void done.finally(() => { finished = true })
  let slowest = 0
  while (!finished) {
    const started = performance.now()
    await (await fetch(`${plaza.httpBase}/healthz`)).text()
    slowest = Math.max(slowest, performance.now() - started)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  return slowest
}

t.test('a PUT of the largest allowed space stalls neither the server that handles it nor the one that hears of it', async (t) => {
  const shared = isolate(t)
  const a = await startApp(t, {}, shared)
  const b = await startApp(t, {}, shared)
  const body = JSON.stringify(LARGEST)
  // This process is the client too: its first fetch loads and compiles undici, which is not the servers' doing.
  for (const plaza of [a, b]) await (await fetch(`${plaza.httpBase}/healthz`)).text()

  const clock = ticker()
  const started = performance.now()
  const put = fetch(`${a.httpBase}/admin/spaces/largest`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body
  }).then(async (reply) => ({ status: reply.status, text: await reply.text() }))
  const heard = put.then(() => settle(() => b.app.spaces.get('largest'), (space) => space !== undefined, 10_000))
  const [healthA, healthB, reply, onB] = await Promise.all([slowestHealthz(a, heard), slowestHealthz(b, heard), put, heard])
  const { wallMs, cpuMs } = clock.stop()
  const tookMs = performance.now() - started

  t.equal(reply.status, 201, 'the space is created')
  t.equal(onB?.definition.obstacles.length, 10_000, `the other server has it too, ${Math.round(tookMs)} ms after the PUT began`)
  t.equal(onB?.freeTileCount, WIDTH, 'and built it right: one row is free')
  t.ok(healthA < MAX_STALL_MS, `/healthz on the server that handled the PUT answered within ${Math.round(healthA)} ms (bound ${MAX_STALL_MS})`)
  t.ok(healthB < MAX_STALL_MS, `/healthz on the server that heard of it answered within ${Math.round(healthB)} ms (bound ${MAX_STALL_MS})`)
  t.ok(wallMs < MAX_STALL_MS, `the ticker was late by at most ${Math.round(wallMs)} ms (bound ${MAX_STALL_MS})`)
  if (cpuMs !== undefined) {
    t.ok(cpuMs < MAX_TICKER_CPU_MS, `between two ticks this thread ran at most ${cpuMs.toFixed(1)} ms (bound ${MAX_TICKER_CPU_MS})`)
  }
})
