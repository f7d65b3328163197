import { type EventLoopUtilization, performance } from 'node:perf_hooks'

/**
 * How busy this process's event loop has been lately: the share of the last one to two windows it
 * spent running callbacks rather than waiting for I/O (0 to 1). Sampled when asked, no timer: after
 * a quiet spell the window spans it, and reads low. Before a whole window has passed it reads 0: a
 * few milliseconds say nothing.
 */
export class LoopLoad {
  readonly #windowMs: number
  /** The loop's counters at the start of the previous window and of the current one. */
  #previous: EventLoopUtilization
  #previousAt: number
  #current: EventLoopUtilization
  #currentAt: number

  constructor (windowMs: number) {
    this.#windowMs = windowMs
    this.#previous = performance.eventLoopUtilization()
    this.#current = this.#previous
    this.#currentAt = this.#previousAt = performance.now()
  }

  utilization (): number {
    const now = performance.now()
    const counters = performance.eventLoopUtilization()
    if (now - this.#currentAt >= this.#windowMs) {
      this.#previous = this.#current
      this.#previousAt = this.#currentAt
      this.#current = counters
      this.#currentAt = now
    }
    if (now - this.#previousAt < this.#windowMs) return 0
    return performance.eventLoopUtilization(counters, this.#previous).utilization
  }
}
