import t from 'tap'
import { LoopLoad } from '../src/loop-load.js'

/** The event loop's load, as the presence store reads it to decide whether joins wait to share a call. */

const idle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Keeps the loop running callbacks for `ms`, a turn at a time, as a storm keeps a server busy. */
async function saturate (ms: number): Promise<void> {
  const end = performance.now() + ms
  while (performance.now() < end) {
    const turnEnd = Math.min(end, performance.now() + 20)
    while (performance.now() < turnEnd) { /* busy */ }
    await new Promise((resolve) => setImmediate(resolve))
  }
}

t.test('a loop that runs callbacks all the time reads near 1, one that waits for I/O near 0', async (t) => {
  const load = new LoopLoad(100)
  await idle(150)
  t.ok(load.utilization() < 0.5, 'after a quiet spell: low')
  await saturate(120)
  const saturated = load.utilization()
  t.ok(saturated > 0.9, `after a window of callbacks: saturated (${saturated.toFixed(2)})`)
  await idle(120)
  const quiet = load.utilization()
  t.ok(quiet < 0.5, `a window of quiet after it: low again (${quiet.toFixed(2)})`)
})

t.test('before a whole window has passed it reads 0, however busy the loop', async (t) => {
  const load = new LoopLoad(1000)
  await saturate(100)
  t.equal(load.utilization(), 0)
})

t.test('the window follows the recent past: a busy spell before the last window does not count', async (t) => {
  const load = new LoopLoad(50)
  await saturate(60)
  t.ok(load.utilization() > 0.9)
  await idle(60)
  const later = load.utilization()
  t.ok(later < 0.5, `a window later: low (${later.toFixed(2)})`)
})

t.test('readings further apart than two windows start afresh: the long quiet spell before a busy one does not hide it', async (t) => {
  const load = new LoopLoad(100)
  await idle(150)
  load.utilization()
  // Quiet for far longer than two windows, then busy for two: the reading covers the busy spell only.
  await idle(600)
  t.equal(load.utilization(), 0, 'just after the gap: nothing to go on')
  await saturate(120)
  const busy = load.utilization()
  t.ok(busy > 0.9, `a window into the busy spell: saturated (${busy.toFixed(2)})`)
})
