import { type EventLoopUtilization, performance } from 'node:perf_hooks'

/**
 * How busy this process's event loop has been lately (0 to 1): the share of the last one to two
 * windows it spent running callbacks rather than waiting for I/O. Read when asked, with no timer;
 * readings further apart than two windows start afresh, and before a whole window it reads 0.
 */
export class LoopLoad {
  readonly #windowMs: number
  /** The loop's counters, and when they were read, at the start of the previous window and of this one. */
  #previous = performance.eventLoopUtilization()
  #previousAt = performance.now()
  #current = this.#previous
  #currentAt = this.#previousAt

  constructor (windowMs: number) {
    this.#windowMs = windowMs
  }

  utilization (): number {
    const now = performance.now()
    const counters = performance.eventLoopUtilization()
    if (now - this.#currentAt >= 2 * this.#windowMs) this.#restart(counters, now)
    else if (now - this.#currentAt >= this.#windowMs) {
      this.#previous = this.#current
      this.#previousAt = this.#currentAt
      this.#current = counters
      this.#currentAt = now
    }
    if (now - this.#previousAt < this.#windowMs) return 0
    return performance.eventLoopUtilization(counters, this.#previous).utilization
  }

  #restart (counters: EventLoopUtilization, now: number): void {
    this.#previous = this.#current = counters
    this.#previousAt = this.#currentAt = now
  }
}
