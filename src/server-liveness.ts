import type { Redis } from 'ioredis'
import type { RedisKeys } from './keys.js'

/**
 * Turns a dead server's connected users into ghosts, once: only the first caller that still finds
 * the server's heartbeat older than the cutoff removes it from the live set and converts its
 * entries (those still naming it and still connected). Returns them as flat pairs spaceId, userId.
 *
 * KEYS[1] servers, KEYS[2] presence index, KEYS[3] ghost index, KEYS[4] the dead server's users set;
 * ARGV[1] dead server id, ARGV[2] cutoff (ms), ARGV[3] now (ms), ARGV[4] KEY_PREFIX.
 */
const REAP_SCRIPT = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) > tonumber(ARGV[2]) then return {} end
redis.call('ZREM', KEYS[1], ARGV[1])
local now = tonumber(ARGV[3])
local out = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local sep = string.find(member, ' ', 1, true)
  local spaceId = string.sub(member, 1, sep - 1)
  local userId = string.sub(member, sep + 1)
  local hash = ARGV[4] .. 'space:' .. spaceId .. ':users'
  local value = redis.call('HGET', hash, userId)
  if value then
    local ok, entry = pcall(cjson.decode, value)
    local owners = ARGV[4] .. 'space:' .. spaceId .. ':owners'
    if redis.call('HGET', owners, userId) == ARGV[1] then redis.call('HDEL', owners, userId) end
    if ok and type(entry) == 'table' and entry.serverId == ARGV[1] and entry.connected ~= false then
      entry.connected = false
      entry.lastUpdated = now
      redis.call('HSET', hash, userId, cjson.encode(entry))
      redis.call('ZADD', KEYS[2], now, member)
      redis.call('ZADD', KEYS[3], now, member)
      table.insert(out, spaceId)
      table.insert(out, userId)
    end
  end
end
redis.call('DEL', KEYS[4])
return out
`

interface ReapCommand {
  plazaReapServer: (servers: string, index: string, ghosts: string, users: string, serverId: string, cutoff: number, now: number, prefix: string) => Promise<string[]>
}

export interface Reaped { serverId: string, spaceId: string, userId: string }

export interface ServerLivenessOptions {
  redis: Redis
  keys: RedisKeys
  serverId: string
  /** A server whose heartbeat is older than this is dead. */
  deadAfterMs: number
}

/**
 * Servers' heartbeats in one sorted set (`plaza:servers`), so that the others notice a server that
 * died without a word well before the stale sweep would, and tell its users' peers.
 */
export class ServerLiveness {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #serverId: string
  readonly #deadAfterMs: number

  constructor (options: ServerLivenessOptions) {
    this.#redis = options.redis
    this.#keys = options.keys
    this.#serverId = options.serverId
    this.#deadAfterMs = options.deadAfterMs
    this.#redis.defineCommand('plazaReapServer', { numberOfKeys: 4, lua: REAP_SCRIPT })
  }

  /**
   * Beats, scored by Redis's own clock (servers' clocks may disagree); true when this server was not
   * in the live set (first beat, or Redis lost it, or it was given up for dead).
   */
  async heartbeat (): Promise<boolean> {
    return await this.#redis.zadd(this.#keys.servers, await this.#now(), this.#serverId) === 1
  }

  /** Every dead server found, reaped: the users it held connected, now ghosts. */
  async reapDead (): Promise<Reaped[]> {
    const now = await this.#now()
    const cutoff = now - this.#deadAfterMs
    const dead = await this.#redis.zrangebyscore(this.#keys.servers, '-inf', cutoff)
    const reaped: Reaped[] = []
    for (const serverId of dead) {
      if (serverId !== this.#serverId) reaped.push(...await this.#reap(serverId, cutoff, now))
    }
    return reaped
  }

  /**
   * At start: a previous run under this SERVER_ID that never retired (it crashed, and came back
   * before anyone noticed) still has users marked connected. They are ghosts now.
   */
  async reapPreviousLife (): Promise<Reaped[]> {
    const now = await this.#now()
    return this.#reap(this.#serverId, Number.MAX_SAFE_INTEGER, now)
  }

  async #reap (serverId: string, cutoff: number, now: number): Promise<Reaped[]> {
    const flat = await (this.#redis as unknown as ReapCommand).plazaReapServer(this.#keys.servers, this.#keys.presenceIndex,
      this.#keys.ghostIndex, this.#keys.serverUsers(serverId), serverId, cutoff, now, this.#keys.prefix)
    const reaped: Reaped[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) reaped.push({ serverId, spaceId: flat[i] as string, userId: flat[i + 1] as string })
    return reaped
  }

  /** Redis's clock, in ms. */
  async #now (): Promise<number> {
    const [seconds, micros] = await this.#redis.time()
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  }

  /** A clean shutdown: out of the live set (its users were written as ghosts already). */
  async retire (): Promise<void> {
    await this.#redis.pipeline().zrem(this.#keys.servers, this.#serverId).del(this.#keys.serverUsers(this.#serverId)).exec()
  }
}
