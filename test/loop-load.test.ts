import t from 'tap'
import { LoopLoad } from '../src/loop-load.js'
import { saturate } from './helpers/loop.js'

/** The event loop's load, as the presence store reads it to decide whether joins wait to share a call. */

const idle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('a loop that runs callbacks all the time reads near 1, one that waits for I/O near 0', async (t) => {
  const load = new LoopLoad(100)
  await idle(150)
  t.ok(load.utilization() < 0.5, 'after a quiet spell: low')
  await saturate(250)
  const saturated = load.utilization()
  t.ok(saturated > 0.9, `after 250 ms of callbacks: saturated (${saturated.toFixed(2)})`)
  await idle(250)
  const quiet = load.utilization()
  t.ok(quiet < 0.5, `a quiet spell after it: low again (${quiet.toFixed(2)})`)
})

t.test('before a whole window has passed it reads 0, however busy the loop', async (t) => {
  const load = new LoopLoad(1000)
  await saturate(100)
  t.equal(load.utilization(), 0)
})

t.test('the window follows the recent past: a busy spell long ago does not count', async (t) => {
  const load = new LoopLoad(50)
  await saturate(200)
  t.ok(load.utilization() > 0.9)
  // Two windows of quiet, each read: the busy spell has left the window.
  await idle(60)
  load.utilization()
  await idle(60)
  const later = load.utilization()
  t.ok(later < 0.5, `two windows later: low (${later.toFixed(2)})`)
})
