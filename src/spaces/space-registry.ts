import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import type { Logger } from '../logger.js'
import { parseJsonObject } from '../protocol.js'
import { Space, defineSpace, type SpaceDefinition, type SpaceInput } from './space.js'

export interface SpaceRegistryOptions {
  redis: Redis
  keys: RedisKeys
  log: Logger
  serverId: string
}

/**
 * Space definitions: stored in Redis so that every server sees the same spaces, cached here so that
 * no move waits on Redis. While Redis is away the cache is the truth, and what was defined meanwhile
 * is written back when it returns.
 */
export class SpaceRegistry {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #log: Logger
  readonly #serverId: string
  readonly #cache = new Map<string, Space>()
  /** The JSON each cached space was built from, so that an unchanged definition is not rebuilt. */
  readonly #json = new Map<string, string>()
  /** Defined or redefined while Redis was unreachable: written over Redis when it is back. */
  readonly #unsaved = new Set<string>()

  constructor (options: SpaceRegistryOptions) {
    this.#redis = options.redis
    this.#keys = options.keys
    this.#log = options.log
    this.#serverId = options.serverId
  }

  /** The cached space: the hot path's lookup, never a round trip. */
  get (id: string): Space | undefined {
    return this.#cache.get(id)
  }

  /**
   * For a join: the cached space (kept current by the control channel), else Redis. A join storm
   * costs no Redis read per join for spaces this server knows.
   */
  async lookup (id: string): Promise<Space | undefined> {
    return this.#cache.get(id) ?? await this.resolve(id)
  }

  /** The space as Redis has it now (refreshing the cache), or the cached one when Redis is away. */
  async resolve (id: string): Promise<Space | undefined> {
    if (!this.#redisReady() || this.#unsaved.has(id)) return this.#cache.get(id)
    try {
      const value = await this.#redis.hget(this.#keys.spaces, id)
      if (value === null) {
        if (this.#cache.has(id) && await this.#redisLostUs()) return this.#cache.get(id)
        this.#forget(id)
        return undefined
      }
      return this.#remember(id, value) ?? this.#cache.get(id)
    } catch (err) {
      this.#log.debug({ err, spaceId: id }, `Could not read space ${id} from Redis; using the cached definition`)
      return this.#cache.get(id)
    }
  }

  /** Defines or redefines a space; `created` is false when it replaced an existing one. */
  async put (definition: SpaceDefinition): Promise<{ created: boolean, space: Space }> {
    const space = new Space(definition)
    const json = JSON.stringify(definition)
    let created = !this.#cache.has(definition.id)
    this.#cache.set(definition.id, space)
    this.#json.set(definition.id, json)
    try {
      this.#assertReady()
      created = await this.#redis.hset(this.#keys.spaces, definition.id, json) === 1
      this.#unsaved.delete(definition.id)
    } catch (err) {
      this.#unsaved.add(definition.id)
      this.#log.warn({ err, spaceId: definition.id }, `Space ${definition.id} kept in memory only until Redis is back`)
    }
    return { created, space }
  }

  /**
   * Deletes a space; false when it did not exist. Needs Redis (every server must hear of it):
   * throws a 503 error, deleting nothing, when Redis does not answer.
   */
  async remove (id: string): Promise<boolean> {
    let removed: number
    try {
      this.#assertReady()
      removed = await this.#redis.hdel(this.#keys.spaces, id)
    } catch (err) {
      throw Object.assign(new Error(`Redis is unavailable (${(err as Error).message}); space ${id} was not deleted`), { statusCode: 503 })
    }
    const existed = this.#cache.has(id) || removed === 1
    this.#forget(id)
    return existed
  }

  /** Every space, as Redis has them (with what only this server holds), sorted by id. */
  async list (): Promise<SpaceDefinition[]> {
    await this.loadAll()
    return [...this.#cache.values()].map((s) => s.definition).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  /** Reads every definition from Redis into the cache. */
  async loadAll (): Promise<void> {
    if (!this.#redisReady()) return
    try {
      const all = await this.#redis.hgetall(this.#keys.spaces)
      for (const [id, value] of Object.entries(all)) this.#remember(id, value)
      const missing = [...this.#cache.keys()].filter((id) => !Object.hasOwn(all, id) && !this.#unsaved.has(id))
      if (missing.length > 0 && !await this.#redisLostUs()) for (const id of missing) this.#forget(id)
    } catch (err) {
      this.#log.warn({ err }, 'Could not read space definitions from Redis; using the cached ones')
    }
  }

  /**
   * Writes back what this server holds after Redis returned (perhaps empty): definitions made while
   * it was away overwrite, the others only fill in what is missing. True when some were redefined
   * (the other servers should read them again).
   */
  async persistAll (): Promise<boolean> {
    if (this.#cache.size === 0) return false
    const redefined = this.#unsaved.size > 0
    const pipeline = this.#redis.pipeline()
    for (const [id, space] of this.#cache) {
      const value = this.#json.get(id) ?? JSON.stringify(space.definition)
      if (this.#unsaved.has(id)) pipeline.hset(this.#keys.spaces, id, value)
      else pipeline.hsetnx(this.#keys.spaces, id, value)
    }
    const results = await pipeline.exec()
    if (results?.every(([err]) => err === null) !== true) return false
    this.#unsaved.clear()
    return redefined
  }

  #remember (id: string, value: string): Space | undefined {
    if (this.#json.get(id) === value) return this.#cache.get(id)
    const parsed: unknown = parseJsonObject(value)
    if (parsed === undefined) return undefined
    const definition = defineSpace(id, parsed as SpaceInput)
    if (typeof definition === 'string') {
      this.#log.warn({ spaceId: id }, `Ignoring the invalid definition of space ${id} in Redis: ${definition}`)
      return undefined
    }
    const space = new Space(definition)
    this.#cache.set(id, space)
    this.#json.set(id, value)
    return space
  }

  /** Drops a space from the cache (deleted through another server). */
  forget (id: string): void {
    this.#forget(id)
  }

  #forget (id: string): void {
    this.#cache.delete(id)
    this.#json.delete(id)
    this.#unsaved.delete(id)
  }

  /**
   * Whether Redis was flushed or restarted empty since this server's last heartbeat (it is no longer
   * in the live set). Then a space missing from Redis was not deleted (a deletion is announced to
   * every server): it is kept, and written back with the rest by the next heartbeat.
   */
  async #redisLostUs (): Promise<boolean> {
    return await this.#redis.zscore(this.#keys.servers, this.#serverId) === null
  }

  #redisReady (): boolean {
    return this.#redis.status === 'ready'
  }

  #assertReady (): void {
    if (!this.#redisReady()) throw new Error(`Redis is ${this.#redis.status}`)
  }
}
