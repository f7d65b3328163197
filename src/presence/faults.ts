import type { Redis } from 'ioredis'
import type { Logger } from '../logger.js'

/** What Plaza keeps under a key. */
export type KeyType = 'hash' | 'zset' | 'set'

/** A Redis key the store cannot use, and why: retrying would fail the same way until someone fixes it. */
export interface StoreFault {
  key: string
  /** What Plaza keeps there. */
  expected: KeyType
  /** The space it belongs to, where it is a space's key. */
  spaceId?: string
  error: string
  /** ms since epoch of the first failure. */
  since: number
  /** Writes or reads refused since. */
  count: number
}

/**
 * Keys that hold what another writer put there (a string where Plaza keeps a hash, say): each is
 * logged once when it starts failing and once when it works again, counted, and listed for
 * /admin/health, while everything else goes on being written.
 */
export class StoreFaults {
  readonly #log: Logger
  readonly #faults = new Map<string, StoreFault>()
  /** Refusals since the process started, for a counter. */
  total = 0

  constructor (log: Logger) {
    this.#log = log
  }

  report (key: string, expected: KeyType, error: string, spaceId?: string): void {
    this.total++
    const known = this.#faults.get(key)
    if (known !== undefined) {
      known.count++
      return
    }
    this.#faults.set(key, { key, expected, ...(spaceId === undefined ? {} : { spaceId }), error, since: Date.now(), count: 1 })
    this.#log.error({ key, spaceId, error }, `❌ [REDIS SPACE] Redis key ${key} cannot be used (${error}); ${spaceId === undefined ? 'it' : `presence of space ${spaceId}`} is kept in memory only until the key is removed or renamed`)
  }

  /** The key worked: its fault, if it had one, is over. */
  clear (key: string): void {
    if (this.#faults.size === 0 || !this.#faults.delete(key)) return
    this.#log.info({ key }, `✅ [REDIS SPACE] Redis key ${key} is written again`)
  }

  /** Looks at each faulty key again: one that holds what Plaza keeps there, or nothing, is fine now. */
  async heal (redis: Redis): Promise<void> {
    if (this.#faults.size === 0) return
    const faults = [...this.#faults.values()]
    const pipeline = redis.pipeline()
    for (const { key } of faults) pipeline.type(key)
    const types = await pipeline.exec()
    faults.forEach(({ key, expected }, i) => {
      const [err, type] = types?.[i] ?? [null, undefined]
      if (err === null && (type === expected || type === 'none')) this.clear(key)
    })
  }

  has (key: string): boolean {
    return this.#faults.has(key)
  }

  isEmpty (): boolean {
    return this.#faults.size === 0
  }

  list (): StoreFault[] {
    return [...this.#faults.values()]
  }
}

/** Whether a command's error will repeat whatever the retries: the key holds another type. */
export function isLasting (err: unknown): boolean {
  // Within a script's error too, which older Redis versions wrap in their own text.
  return err instanceof Error && err.message.includes('WRONGTYPE')
}

export const NOT_A_HASH = 'WRONGTYPE: the key holds something other than a hash'

