import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import type { Logger } from '../logger.js'
import { definePlazaScripts } from '../scripts/index.js'
import { splitMember } from './entry.js'

/** A presence entry the sweep removed; `wasConnected` when it still claimed a live connection. */
export interface SweptUser {
  spaceId: string
  userId: string
  wasConnected: boolean
  /** When the session the sweep ends began (undefined when the entry did not say). */
  sessionStart: number | undefined
}

/** Index members read and removed per script call. */
const BATCH = 500

export interface StaleSweeperOptions {
  redis: Redis
  keys: RedisKeys
  log: Logger
  staleAfterMs: number
}

/**
 * The stale sweep of PROTOCOL §5, cheap when nothing is stale: one ZRANGEBYSCORE on an index of
 * every entry by `lastUpdated`, whatever the number of spaces, then the removal in a script that
 * checks each entry itself (sweep-stale.lua).
 */
export class StaleSweeper {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #log: Logger
  readonly #staleAfterMs: number

  constructor (options: StaleSweeperOptions) {
    this.#redis = definePlazaScripts(options.redis)
    this.#keys = options.keys
    this.#log = options.log
    this.#staleAfterMs = options.staleAfterMs
  }

  /** Removes every stale entry (in batches) and returns them, logging in the design's words. */
  async sweep (now = Date.now()): Promise<SweptUser[]> {
    const swept: SweptUser[] = []
    const cutoff = now - this.#staleAfterMs
    const { presenceIndex, ghostIndex } = this.#keys
    for (;;) {
      const members = await this.#redis.zrangebyscore(presenceIndex, '-inf', cutoff, 'LIMIT', 0, BATCH)
      if (members.length === 0) break
      const hashes = members.map((member) => this.#keys.spaceUsers(splitMember(member).spaceId))
      const flat = await this.#redis.plazaSweepStale(2 + hashes.length, [presenceIndex, ghostIndex, ...hashes], [cutoff, ...members])
      for (let i = 0; i + 3 < flat.length; i += 4) {
        const start = flat[i + 3] === '' ? undefined : Number(flat[i + 3])
        swept.push({ spaceId: flat[i] as string, userId: flat[i + 1] as string, wasConnected: flat[i + 2] === '1', sessionStart: start })
      }
      // Every member read was removed or scored again past the cutoff: the next read finds others.
      if (members.length < BATCH) break
    }
    const bySpace = new Map<string, number>()
    for (const { spaceId, userId } of swept) {
      this.#log.info({ spaceId, userId }, `🧹 [REDIS CLEANUP] Removed stale user ${userId} from space ${spaceId}`)
      bySpace.set(spaceId, (bySpace.get(spaceId) ?? 0) + 1)
    }
    for (const [spaceId, count] of bySpace) {
      this.#log.info({ spaceId, count }, `🧹 [REDIS CLEANUP] Cleaned up ${count} stale users from space ${spaceId}`)
    }
    return swept
  }
}
