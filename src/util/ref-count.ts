/** A count per key, the key forgotten once its count is back to zero. */
export class RefCount<K> {
  readonly #counts = new Map<K, number>()

  count (key: K): number {
    return this.#counts.get(key) ?? 0
  }

  has (key: K): boolean {
    return this.#counts.has(key)
  }

  add (key: K): void {
    this.#counts.set(key, this.count(key) + 1)
  }

  /** One less; a key that was not counted stays absent. */
  remove (key: K): void {
    const left = this.count(key) - 1
    if (left > 0) this.#counts.set(key, left)
    else this.#counts.delete(key)
  }

  clear (): void {
    this.#counts.clear()
  }
}
