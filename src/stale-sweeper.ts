import type { Redis } from 'ioredis'
import type { RedisKeys } from './keys.js'
import type { Logger } from './logger.js'

/** A presence entry the sweep removed; `wasConnected` when it still claimed a live connection. */
export interface SweptUser {
  spaceId: string
  userId: string
  wasConnected: boolean
}

/**
 * Removes, atomically, each indexed entry whose `lastUpdated` is at or before the cutoff, checked
 * against the entry itself (the index may lag). Returns what it removed as flat triples
 * spaceId, userId, connected ('1'/'0'). Several servers may run it at once: each entry is removed,
 * and reported, by exactly one of them.
 *
 * KEYS[1] the index, KEYS[2] the ghost index; ARGV[1] cutoff (ms), ARGV[2] batch size, ARGV[3] KEY_PREFIX.
 * It touches users hashes not named in KEYS: fine on one Redis, not on Redis Cluster (not a target).
 */
const SWEEP_SCRIPT = `
local cutoff = tonumber(ARGV[1])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[2]))
local removed = {}
for _, member in ipairs(members) do
  local sep = string.find(member, ' ', 1, true)
  local spaceId = string.sub(member, 1, sep - 1)
  local userId = string.sub(member, sep + 1)
  local hash = ARGV[3] .. 'space:' .. spaceId .. ':users'
  local value = redis.call('HGET', hash, userId)
  local lastUpdated = nil
  local connected = true
  if value then
    local ok, entry = pcall(cjson.decode, value)
    if ok and type(entry) == 'table' then
      if type(entry.lastUpdated) == 'number' then lastUpdated = entry.lastUpdated end
      connected = entry.connected ~= false
    end
  end
  if value and lastUpdated and lastUpdated > cutoff then
    redis.call('ZADD', KEYS[1], lastUpdated, member)
  else
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[2], member)
    if value then
      redis.call('HDEL', hash, userId)
      table.insert(removed, spaceId)
      table.insert(removed, userId)
      table.insert(removed, connected and '1' or '0')
    end
  end
end
return removed
`

/** The index member for one user in one space (space ids never contain a space). */
export const indexMember = (spaceId: string, userId: string): string => `${spaceId} ${userId}`

const BATCH = 500

export interface StaleSweeperOptions {
  redis: Redis
  keys: RedisKeys
  log: Logger
  staleAfterMs: number
}

/**
 * The stale sweep of PROTOCOL §5, cheap when nothing is stale: one ZRANGEBYSCORE on an index of
 * every entry by `lastUpdated`, whatever the number of spaces, and the removal in a Lua script.
 */
export class StaleSweeper {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #log: Logger
  readonly #staleAfterMs: number

  constructor (options: StaleSweeperOptions) {
    this.#redis = options.redis
    this.#keys = options.keys
    this.#log = options.log
    this.#staleAfterMs = options.staleAfterMs
    this.#redis.defineCommand('plazaSweepStale', { numberOfKeys: 2, lua: SWEEP_SCRIPT })
  }

  /** Removes every stale entry (in batches) and returns them, logging in the design's words. */
  async sweep (now = Date.now()): Promise<SweptUser[]> {
    const swept: SweptUser[] = []
    const cutoff = now - this.#staleAfterMs
    for (;;) {
      const flat = await (this.#redis as unknown as SweepCommand).plazaSweepStale(this.#keys.presenceIndex, this.#keys.ghostIndex, cutoff, BATCH, this.#keys.prefix)
      for (let i = 0; i + 2 < flat.length; i += 3) {
        swept.push({ spaceId: flat[i] as string, userId: flat[i + 1] as string, wasConnected: flat[i + 2] === '1' })
      }
      if (flat.length < BATCH * 3) break
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

interface SweepCommand {
  plazaSweepStale: (index: string, ghosts: string, cutoff: number, batch: number, prefix: string) => Promise<string[]>
}
