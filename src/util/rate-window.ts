/** A fixed window of one second: how many events it has seen against a limit. */
export class RateWindow {
  readonly #limit: number
  #start = 0
  #count = 0

  constructor (limit: number) {
    this.#limit = limit
  }

  /** Counts one event at `now`; false when it goes over the limit of its second. */
  admit (now: number): boolean {
    if (now - this.#start >= 1000) {
      this.#start = now
      this.#count = 0
    }
    return ++this.#count <= this.#limit
  }
}
