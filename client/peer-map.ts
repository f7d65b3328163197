import type { PeerEntry } from './messages.js'

/**
 * The people of a space by userId, as a map that never changes: `with` and `without` return a new
 * one and leave this one as it was. It iterates in the order people were added, as a Map does.
 * A move replaces one entry, the commonest change by far: it copies the array of entries and
 * shares the index, so that it stays cheap in a crowded space; only a join or a leave rebuilds it.
 */
export class PeerMap implements ReadonlyMap<string, PeerEntry> {
  static readonly EMPTY = new PeerMap([], new Map())

  /** Everyone, in the order they were added. */
  readonly #entries: readonly PeerEntry[]
  /** Where each userId is in #entries; shared by the maps that hold the same people. */
  readonly #index: ReadonlyMap<string, number>

  private constructor (entries: readonly PeerEntry[], index: ReadonlyMap<string, number>) {
    this.#entries = entries
    this.#index = index
  }

  /** A map of `entries`; of two entries with one userId, the later wins (in the place of the first). */
  static of (entries: Iterable<PeerEntry>): PeerMap {
    let map = PeerMap.EMPTY
    for (const entry of entries) map = map.with(entry)
    return map
  }

  /** This map with `entry` in it, replacing the entry of the same userId where there is one. */
  with (entry: PeerEntry): PeerMap {
    const at = this.#index.get(entry.userId)
    if (at === undefined) {
      return new PeerMap([...this.#entries, entry], new Map(this.#index).set(entry.userId, this.#entries.length))
    }
    const entries = [...this.#entries]
    entries[at] = entry
    return new PeerMap(entries, this.#index)
  }

  /** This map without `userId` (this very map when it was not in it). */
  without (userId: string): PeerMap {
    if (!this.#index.has(userId)) return this
    const entries = this.#entries.filter((entry) => entry.userId !== userId)
    return new PeerMap(entries, new Map(entries.map((entry, at) => [entry.userId, at])))
  }

  get size (): number {
    return this.#entries.length
  }

  get (userId: string): PeerEntry | undefined {
    const at = this.#index.get(userId)
    return at === undefined ? undefined : this.#entries[at]
  }

  has (userId: string): boolean {
    return this.#index.has(userId)
  }

  forEach (callback: (entry: PeerEntry, userId: string, map: ReadonlyMap<string, PeerEntry>) => void, thisArg?: unknown): void {
    for (const entry of this.#entries) callback.call(thisArg, entry, entry.userId, this)
  }

  * entries (): MapIterator<[string, PeerEntry]> {
    for (const entry of this.#entries) yield [entry.userId, entry]
  }

  * keys (): MapIterator<string> {
    for (const entry of this.#entries) yield entry.userId
  }

  * values (): MapIterator<PeerEntry> {
    yield * this.#entries
  }

  [Symbol.iterator] (): MapIterator<[string, PeerEntry]> {
    return this.entries()
  }

  get [Symbol.toStringTag] (): string {
    return 'PeerMap'
  }
}
