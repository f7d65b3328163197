/** A fixed window (one second unless told): how many events it has seen against a limit. */
export class RateWindow {
  readonly limit: number
  readonly #windowMs: number
  #start = 0
  #count = 0

  constructor (limit: number, windowMs = 1000) {
    this.limit = limit
    this.#windowMs = windowMs
  }

  /** Counts one event at `now`; false when it goes over the limit of its window. */
  admit (now: number): boolean {
    if (now - this.#start >= this.#windowMs) {
      this.#start = now
      this.#count = 0
    }
    return ++this.#count <= this.limit
  }
}
