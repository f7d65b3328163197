import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import { definePlazaScripts } from '../scripts/index.js'
import type { Logger } from '../logger.js'
import { parseJsonObject } from '../protocol.js'
import { Space, definitionOf, spaceFromInput, spaceOf, type SpaceDefinition, type SpaceInput, type SpaceLimits, type Work } from './space.js'

export interface SpaceRegistryLimits extends SpaceLimits {
  /** Spaces in the deployment (MAX_SPACES): a definition beyond is refused; a redefinition never is. */
  maxSpaces: number
}

export interface SpaceRegistryOptions {
  redis: Redis
  keys: RedisKeys
  log: Logger
  serverId: string
  limits: SpaceRegistryLimits
}

/** A space refused because the deployment already holds MAX_SPACES. */
export class SpacesFullError extends Error {
  constructor (id: string, maxSpaces: number) {
    super(`space ${id} would be one more than the ${maxSpaces} spaces this deployment may hold (MAX_SPACES): delete one first`)
  }
}

/** A deletion refused because Redis did not answer: every server must hear of it, so nothing was deleted. */
export class RedisUnavailableError extends Error {}

/** How long checking or building a space may hold the event loop before it gives a turn back. */
const SLICE_MS = 2

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Does `work` in slices of about SLICE_MS, letting I/O and timers run between them. The first
 * waits for a turn of its own too: the turn that asked (which parsed a request or a reply) has run
 * long enough. An immediate set while handling I/O runs before the loop polls again, hence two.
 */
async function inSlices<T> (work: Work<T>): Promise<T> {
  await nextTurn()
  for (;;) {
    await nextTurn()
    const until = performance.now() + SLICE_MS
    for (;;) {
      const step = work.next()
      if (step.done === true) return step.value
      if (performance.now() >= until) break
    }
  }
}

/**
 * Space definitions: stored in Redis so that every server sees the same spaces, cached here so that
 * no move waits on Redis. While Redis is away the cache is the truth, and what was defined meanwhile
 * is written back when it returns.
 *
 * A definition is built once per server: the cache keeps the JSON each space was built from, and a
 * definition read again unchanged is not built again. Building a large space takes a few
 * milliseconds, done in slices; the cache changes one definition at a time, in the order Redis
 * answered, so that a slow build never lands over a newer definition.
 */
export class SpaceRegistry {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #log: Logger
  readonly #serverId: string
  readonly limits: Readonly<SpaceRegistryLimits>
  readonly #cache = new Map<string, Space>()
  /** The JSON each space was built from, so that an unchanged definition is not built again. */
  readonly #json = new WeakMap<Space, string>()
  /** A definition in Redis this server cannot use, by space: checked (and logged) once, not at every read. */
  readonly #refused = new Map<string, string>()
  /** Defined or redefined while Redis was unreachable: written over Redis when it is back. */
  readonly #unsaved = new Set<string>()
  /** The last task queued by #inTurn: each waits for the one before. */
  #lastTask: Promise<unknown> = Promise.resolve()

  constructor (options: SpaceRegistryOptions) {
    this.#redis = definePlazaScripts(options.redis)
    this.#keys = options.keys
    this.#log = options.log
    this.#serverId = options.serverId
    this.limits = Object.freeze({ ...options.limits })
  }

  /** How many spaces this server holds. */
  get size (): number {
    return this.#cache.size
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

  /**
   * A space from an admin's input, checked against this deployment's limits: the cached space when
   * its definition is unchanged, else built; or a message saying what is wrong. Nothing is stored.
   */
  async build (id: string, input: SpaceInput): Promise<Space | string> {
    return await this.#inTurn(async () => {
      const definition = await inSlices(definitionOf(id, input, this.limits))
      if (typeof definition === 'string') return definition
      const json = JSON.stringify(definition)
      const cached = this.#cache.get(id)
      if (cached !== undefined && this.#json.get(cached) === json) return cached
      const space = await inSlices(spaceOf(definition))
      if (typeof space !== 'string') this.#json.set(space, json)
      return space
    })
  }

  /** The space as Redis has it now (refreshing the cache), or the cached one when Redis is away. */
  async resolve (id: string): Promise<Space | undefined> {
    if (!this.#redisReady() || this.#unsaved.has(id)) return this.#cache.get(id)
    try {
      const value = await this.#redis.hget(this.#keys.spaces, id)
      return await this.#inTurn(async () => {
        if (value !== null) return await this.#remember(id, value) ?? this.#cache.get(id)
        if (this.#cache.has(id) && await this.#redisLostUs()) return this.#cache.get(id)
        this.#forget(id)
        return undefined
      })
    } catch (err) {
      this.#log.debug({ err, spaceId: id }, `Could not read space ${id} from Redis; using the cached definition`)
      return this.#cache.get(id)
    }
  }

  /**
   * Defines or redefines a space: one from build(), or a definition known to be valid (built here).
   * `created` is false when it replaced an existing one. A space that would be one more than
   * MAX_SPACES is refused with a SpacesFullError, and nothing is stored. While Redis is away the
   * space is kept here, counted against the spaces this server holds, and written when Redis is back.
   */
  async put (input: Space | SpaceDefinition): Promise<{ created: boolean, space: Space }> {
    const space = input instanceof Space ? input : new Space(input)
    const { id } = space
    const json = this.#json.get(space) ?? JSON.stringify(space.definition)
    const { maxSpaces } = this.limits
    let stored: number | Error
    try {
      this.#assertReady()
      stored = await this.#redis.plazaPutSpace(this.#keys.spaces, id, json, maxSpaces)
    } catch (err) {
      stored = err as Error
    }
    return await this.#inTurn(() => {
      let created = stored === 1
      if (stored === -1) throw new SpacesFullError(id, maxSpaces)
      if (stored instanceof Error) {
        created = !this.#cache.has(id)
        if (created && this.#cache.size >= maxSpaces) throw new SpacesFullError(id, maxSpaces)
        this.#unsaved.add(id)
        this.#log.warn({ err: stored, spaceId: id }, `Space ${id} kept in memory only until Redis is back`)
      } else {
        this.#unsaved.delete(id)
      }
      this.#json.set(space, json)
      this.#cache.set(id, space)
      this.#refused.delete(id)
      return { created, space }
    })
  }

  /**
   * Deletes a space; false when it did not exist. Needs Redis (every server must hear of it):
   * throws RedisUnavailableError, deleting nothing, when Redis does not answer.
   */
  async remove (id: string): Promise<boolean> {
    let removed: number
    try {
      this.#assertReady()
      removed = await this.#redis.hdel(this.#keys.spaces, id)
    } catch (err) {
      throw new RedisUnavailableError(`Redis is unavailable (${(err as Error).message}); space ${id} was not deleted`)
    }
    return await this.#inTurn(() => {
      const existed = this.#cache.has(id) || removed === 1
      this.#forget(id)
      return existed
    })
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
      await this.#inTurn(async () => {
        for (const [id, value] of Object.entries(all)) await this.#remember(id, value)
        const missing = [...this.#cache.keys()].filter((id) => !Object.hasOwn(all, id) && !this.#unsaved.has(id))
        if (missing.length > 0 && !await this.#redisLostUs()) for (const id of missing) this.#forget(id)
      })
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
      const value = this.#json.get(space) ?? JSON.stringify(space.definition)
      if (this.#unsaved.has(id)) pipeline.hset(this.#keys.spaces, id, value)
      else pipeline.hsetnx(this.#keys.spaces, id, value)
    }
    const results = await pipeline.exec()
    if (results?.every(([err]) => err === null) !== true) return false
    this.#unsaved.clear()
    return redefined
  }

  /** Drops a space from the cache (deleted through another server). */
  forget (id: string): void {
    this.#forget(id)
    // Again after what is queued: a definition read before the deletion must not land after it.
    void this.#inTurn(() => this.#forget(id))
  }

  /**
   * Runs `task` once those queued before it are done: spaces are built, and the cache changed, one
   * at a time and in the order asked, which for what Redis answered is the order it answered in.
   */
  #inTurn<T> (task: () => T | Promise<T>): Promise<T> {
    const done = this.#lastTask.then(task)
    this.#lastTask = done.catch(() => {})
    return done
  }

  /**
   * The space `value` (as read from Redis) defines, now in the cache; built only when it is not the
   * cached one's JSON. Undefined, the cache left as it was, when the definition is invalid here.
   */
  async #remember (id: string, value: string): Promise<Space | undefined> {
    const cached = this.#cache.get(id)
    if (cached !== undefined && this.#json.get(cached) === value) return cached
    if (this.#refused.get(id) === value) return undefined
    const parsed: unknown = parseJsonObject(value)
    const space = parsed === undefined ? 'not a JSON object' : await inSlices(spaceFromInput(id, parsed as SpaceInput, this.limits))
    if (typeof space === 'string') {
      this.#refused.set(id, value)
      this.#log.warn({ spaceId: id }, `Ignoring the invalid definition of space ${id} in Redis: ${space}`)
      return undefined
    }
    this.#json.set(space, value)
    this.#cache.set(id, space)
    this.#refused.delete(id)
    return space
  }

  #forget (id: string): void {
    this.#cache.delete(id)
    this.#refused.delete(id)
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
