import t from 'tap'
import { LoopLoad } from '../src/util/loop-load.js'

/** The event loop's load, as the presence store reads it to decide whether joins wait to share a call. */

const idle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Keeps the loop running callbacks for `ms`, a turn at a time, as a storm keeps a server busy. */
async function saturate (ms: number, turnMs = 20): Promise<void> {
  const end = performance.now() + ms
  while (performance.now() < end) {
    const turnEnd = Math.min(end, performance.now() + turnMs)
    while (performance.now() < turnEnd) { /* busy */ }
    await new Promise((resolve) => setImmediate(resolve))
  }
}

t.test('a loop that runs callbacks all the time reads near 1, one that waits for I/O near 0', async (t) => {
  const load = new LoopLoad(100)
  t.teardown(() => load.close())
  await idle(250)
  t.ok(load.utilization() < 0.5, 'after a quiet spell: low')
  await saturate(250)
  const saturated = load.utilization()
  t.ok(saturated > 0.9, `after 250 ms of callbacks: saturated (${saturated.toFixed(2)})`)
  await idle(250)
  const quiet = load.utilization()
  t.ok(quiet < 0.5, `250 ms of quiet after it: low again (${quiet.toFixed(2)})`)
})

t.test('before a whole window has passed it reads 0, however busy the loop', async (t) => {
  const load = new LoopLoad(1000)
  t.teardown(() => load.close())
  await saturate(100)
  t.equal(load.utilization(), 0)
})

t.test('unread for a while, it still covers only the recent past: a long busy spell after a quiet one reads busy', async (t) => {
  const load = new LoopLoad(50)
  t.teardown(() => load.close())
  await idle(300)
  // Nobody reads the load during this spell, as when a claim call is out for long.
  await saturate(300, 60)
  const busy = load.utilization()
  t.ok(busy > 0.9, `at its end: saturated (${busy.toFixed(2)})`)
})
