import { performance } from 'node:perf_hooks'

/**
 * How busy this process's event loop has been lately (0 to 1): the share of the time since the
 * tick before last (one to two windows ago, a little more when the loop is late) that it spent
 * running callbacks rather than waiting for I/O. A window's worth of counters is kept by an
 * unref'd timer; before its first tick the reading is 0.
 */
export class LoopLoad {
  #previous = performance.eventLoopUtilization()
  #current = this.#previous
  readonly #timer: NodeJS.Timeout

  constructor (windowMs: number) {
    this.#timer = setInterval(() => {
      this.#previous = this.#current
      this.#current = performance.eventLoopUtilization()
    }, windowMs).unref()
  }

  utilization (): number {
    if (this.#previous === this.#current) return 0
    return performance.eventLoopUtilization(performance.eventLoopUtilization(), this.#previous).utilization
  }

  close (): void {
    clearInterval(this.#timer)
  }
}
