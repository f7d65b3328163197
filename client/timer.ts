/** One timeout at most: starting it again replaces the one pending. */
export class Timer {
  #handle: ReturnType<typeof setTimeout> | undefined

  get pending (): boolean {
    return this.#handle !== undefined
  }

  start (ms: number, callback: () => void): void {
    this.clear()
    this.#handle = setTimeout(() => {
      this.#handle = undefined
      callback()
    }, ms)
  }

  clear (): void {
    if (this.#handle !== undefined) clearTimeout(this.#handle)
    this.#handle = undefined
  }
}
