import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import type { Logger } from '../logger.js'
import { getOrCreate } from '../util/maps.js'
import { snapshot } from './entry.js'
import { isLasting, NOT_A_HASH, type StoreFaults } from './faults.js'
import { type FlushContext, type FlushPlan, flushPipeline, type PendingOp, type PendingOps, planFlush, RELEASED } from './flush-plan.js'
import type { PresenceRecord, StoredUser } from './store.js'

/**
 * How long a join's write may wait for others'. Nothing waits on it: the joiner has its space-joined
 * already, and other servers hear of the join on the bus; only a crash in this window loses it.
 */
const JOIN_WRITE_DELAY_MS = 20

export interface WriteQueueOptions {
  redis: Redis
  keys: RedisKeys
  log: Logger
  serverId: string
  ttlSeconds: number
  /** How often moves and refreshes are written. */
  flushIntervalMs: number
}

/**
 * Write-behind for the users hashes: one entry per user and space, the latest state winning, so
 * however often a user moves one HSET per space per flush carries everyone's state. Moves wait for
 * the interval; joins go within JOIN_WRITE_DELAY_MS together; other changes (drops, leaves,
 * write-backs) on the next turn. While Redis is away writes wait (bounded by the number of users)
 * and go out when it is back.
 */
export class WriteQueue {
  readonly #redis: Redis
  readonly #log: Logger
  readonly #context: FlushContext
  readonly #timer: NodeJS.Timeout
  #pending: PendingOps = new Map()
  /** Queued writes that go before the interval (joins, drops, leaves, write-backs), by space. */
  readonly #prompt = new Map<string, Set<string>>()
  /**
   * Batches taken out of #pending whose write a join's read under way may not see yet: a read that
   * Redis answered before the batch landed must still see it. Kept until the turn after the write
   * is confirmed, since the read's reply, parsed from the same socket data, may resume after it.
   */
  readonly #writing = new Set<PendingOps>()
  /** Members this server holds connected and has listed in its users set. */
  readonly #owned = new Set<string>()
  #inFlight: Promise<boolean> | undefined
  #followUp: Promise<boolean> | undefined
  #followUpPromptOnly = true
  #nextTurn: Promise<boolean> | undefined
  #joinWindow: Promise<boolean> | undefined
  #failing = false

  readonly #faults: StoreFaults

  constructor (options: WriteQueueOptions, faults: StoreFaults) {
    this.#faults = faults
    this.#redis = options.redis
    this.#log = options.log
    this.#context = { keys: options.keys, serverId: options.serverId, ttlSeconds: options.ttlSeconds, log: options.log, owned: this.#owned }
    this.#timer = setInterval(() => { void this.flush() }, options.flushIntervalMs).unref()
  }

  /** Queues a state for the next periodic flush. */
  save (spaceId: string, record: PresenceRecord): void {
    this.#queue(spaceId).set(record.userId, record)
  }

  /** Queues a state for the join window: the joins of those milliseconds share one pipeline. */
  saveJoin (spaceId: string, record: PresenceRecord): Promise<boolean> {
    this.#queuePrompt(spaceId, record.userId, record)
    this.#joinWindow ??= new Promise<void>((resolve) => setTimeout(resolve, JOIN_WRITE_DELAY_MS)).then(() => {
      this.#joinWindow = undefined
      return this.flush(true)
    })
    return this.#joinWindow
  }

  /** Queues a state for the next turn. */
  saveNow (spaceId: string, record: PresenceRecord): Promise<boolean> {
    this.#queuePrompt(spaceId, record.userId, record)
    return this.#flushNextTurn()
  }

  /** Queues a removal for the next turn. */
  remove (spaceId: string, userId: string): Promise<boolean> {
    this.#queuePrompt(spaceId, userId, null)
    return this.#flushNextTurn()
  }

  /** Lets go of a user unwritten (another server holds them now), with the next prompt write. */
  release (spaceId: string, userId: string): void {
    this.#queuePrompt(spaceId, userId, RELEASED)
  }

  /** Forgets whom this server listed as its own: each is claimed again with its next write. */
  reclaim (): void {
    this.#owned.clear()
  }

  /** Forgets what is queued for a space that is gone. */
  dropSpace (spaceId: string): void {
    this.#pending.delete(spaceId)
  }

  /** Lays what this server has not written yet over a read of the space (the batch in flight, then the newer queue). */
  overlay (spaceId: string, byId: Map<string, StoredUser>): void {
    for (const batch of this.#writing) this.#overlayOps(byId, batch.get(spaceId))
    this.#overlayOps(byId, this.#pending.get(spaceId))
  }

  #overlayOps (byId: Map<string, StoredUser>, ops: Map<string, PendingOp> | undefined): void {
    if (ops === undefined) return
    for (const [userId, record] of ops) {
      // Connected here: memory has them, as for the entries the read left out.
      if (record === null || (record !== RELEASED && record.connected)) byId.delete(userId)
      else if (record !== RELEASED) byId.set(userId, { ...snapshot(record), serverId: this.#context.serverId })
    }
  }

  /**
   * One flush at a time, so that a failed batch can be put back under anything queued after it;
   * calls made meanwhile share a single follow-up, so a hung Redis never grows a queue of flushes.
   * `promptOnly` leaves moves for the interval, so that they stay coalesced.
   */
  flush (promptOnly = false): Promise<boolean> {
    if (this.#inFlight === undefined) {
      this.#inFlight = this.#flushOnce(promptOnly).finally(() => { this.#inFlight = undefined })
      return this.#inFlight
    }
    if (!promptOnly) this.#followUpPromptOnly = false
    this.#followUp ??= this.#inFlight.then(() => {
      const promptOnlyNext = this.#followUpPromptOnly
      this.#followUp = undefined
      this.#followUpPromptOnly = true
      return this.flush(promptOnlyNext)
    })
    return this.#followUp
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
  }

  #queue (spaceId: string): Map<string, PendingOp> {
    return getOrCreate(this.#pending, spaceId, () => new Map())
  }

  #queuePrompt (spaceId: string, userId: string, op: PendingOp): void {
    this.#queue(spaceId).set(userId, op)
    getOrCreate(this.#prompt, spaceId, () => new Set<string>()).add(userId)
  }

  /** The prompt writes on the next turn of the event loop, so that a burst of them shares one pipeline. */
  #flushNextTurn (): Promise<boolean> {
    this.#nextTurn ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#nextTurn = undefined
      return this.flush(true)
    })
    return this.#nextTurn
  }

  async #flushOnce (promptOnly: boolean): Promise<boolean> {
    if (this.#pending.size === 0) return true
    if (this.#redis.status !== 'ready') return false
    const batch = promptOnly ? this.#takePrompt() : this.#pending
    if (!promptOnly) this.#pending = new Map()
    this.#prompt.clear()
    if (batch.size === 0) return true
    this.#writing.add(batch)
    try {
      // Planned inside the try: whatever throws, the batch goes back to the queue.
      const plan = planFlush(batch, this.#context)
      const results = await flushPipeline(this.#redis, plan, this.#context).exec()
      if (results === null) throw new Error('the pipeline was not run')
      this.#settle(plan, results)
      if (this.#failing) this.#log.info({}, '✅ [REDIS SPACE] Presence writes reach Redis again')
      this.#failing = false
      return true
    } catch (err) {
      this.#restore(batch)
      if (!this.#failing) this.#log.warn({ err }, 'Presence writes to Redis failed; keeping them queued until Redis answers')
      this.#failing = true
      return false
    } finally {
      setImmediate(() => this.#writing.delete(batch))
    }
  }

  /**
   * Reads a flush's answers. An error that may pass (a lost connection, a Redis busy or read-only
   * during a failover) puts the whole batch back: it is written again as it stands. A space whose
   * keys hold another writer's data is reported and its writes dropped, since retrying cannot help,
   * and so is any other command refused for the type of its key; the rest of the batch stands.
   */
  #settle (plan: FlushPlan, results: Array<[Error | null, unknown]>): void {
    const passing = results.find(([err]) => err !== null && !isLasting(err))
    if (passing !== undefined) throw passing[0] as Error
    const { keys } = this.#context
    plan.spaceWrites.forEach((write, i) => {
      const [err, skipped] = results[i] as [Error | null, number[] | undefined]
      const failed = new Set(err === null ? (skipped ?? []).map((n) => write.spaceIds[n - 1]) : write.spaceIds)
      for (const spaceId of write.spaceIds) {
        const key = keys.spaceUsers(spaceId)
        if (failed.has(spaceId)) this.#faults.report(key, err?.message ?? NOT_A_HASH, spaceId)
        else if (this.#faults.has(key)) this.#faults.clear(key)
      }
    })
    for (const [err] of results.slice(plan.spaceWrites.length)) if (err !== null) this.#faults.report(commandKey(err), err.message)
    for (const member of plan.claimed) this.#owned.add(member)
    for (const member of plan.disowned) this.#owned.delete(member)
  }

  /** Takes the prompt writes out of the queue, leaving the others for the interval. */
  #takePrompt (): PendingOps {
    const batch: PendingOps = new Map()
    for (const [spaceId, users] of this.#prompt) {
      const ops = this.#pending.get(spaceId)
      if (ops === undefined) continue
      const taken = new Map<string, PendingOp>()
      for (const userId of users) {
        const op = ops.get(userId)
        if (op === undefined) continue
        taken.set(userId, op)
        ops.delete(userId)
      }
      if (ops.size === 0) this.#pending.delete(spaceId)
      if (taken.size > 0) batch.set(spaceId, taken)
    }
    return batch
  }

  /** Puts a failed batch back, under anything queued since (which is newer). */
  #restore (batch: PendingOps): void {
    for (const [spaceId, ops] of batch) {
      const queue = this.#queue(spaceId)
      for (const [userId, record] of ops) if (!queue.has(userId)) queue.set(userId, record)
    }
  }
}

/** The key an index command was refused for, as far as its error tells (Redis does not name it). */
function commandKey (err: Error): string {
  return (err as Error & { command?: { args?: unknown[] } }).command?.args?.[0]?.toString() ?? 'unknown'
}
