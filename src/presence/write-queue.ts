import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import type { Logger } from '../logger.js'
import { getOrCreate } from '../util/maps.js'
import { indexMember, snapshot, splitMember } from './entry.js'
import { isLasting, NOT_A_HASH, type StoreFaults } from './faults.js'
import { type FlushContext, type FlushPlan, flushPipeline, inChunks, type PendingOp, type PendingOps, planFlush, RELEASED, type SpaceWrite, type Target } from './flush-plan.js'
import type { PresenceRecord, StoredUser } from './store.js'

/** How often the writes of a space whose key refused them are tried again (the key may have been fixed). */
const FAULT_RETRY_MS = 5000

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
  /** How often keys that refused writes are looked at again (FAULT_RETRY_MS unless given). */
  faultRetryMs?: number
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
  /** The latest writes of spaces whose keys refused them, tried again every FAULT_RETRY_MS. */
  #parked: PendingOps = new Map()
  #retriedAt = 0

  readonly #faults: StoreFaults
  readonly #faultRetryMs: number

  constructor (options: WriteQueueOptions, faults: StoreFaults) {
    this.#faults = faults
    this.#faultRetryMs = options.faultRetryMs ?? FAULT_RETRY_MS
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

  /** Forgets what is queued or parked for a space that is gone, and its keys' faults. */
  dropSpace (spaceId: string): void {
    this.#pending.delete(spaceId)
    this.#prompt.delete(spaceId)
    this.#parked.delete(spaceId)
    this.#faults.clear(this.#context.keys.spaceUsers(spaceId))
    this.#faults.clear(this.#context.keys.spaceOwners(spaceId))
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
    if (!promptOnly && this.#redis.status === 'ready') await this.#retryFaults().catch(() => { /* looked at again next time */ })
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
      const { pipeline, targets } = flushPipeline(this.#redis, plan, this.#context)
      const results = await pipeline.exec()
      if (results === null) throw new Error('the pipeline was not run')
      await this.#settle(plan, batch, targets, results)
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
   * during a failover) puts the whole batch back: it is written again as it stands. A key that holds
   * another writer's data refuses the same way however often it is tried: it is reported, its space's
   * writes are parked (tried again every FAULT_RETRY_MS) and what the flush did for that space in the
   * indexes is undone; the rest of the batch stands.
   */
  async #settle (plan: FlushPlan, batch: PendingOps, targets: Target[], results: Array<[Error | null, unknown]>): Promise<void> {
    const passing = results.find(([err]) => err !== null && !isLasting(err))
    if (passing !== undefined) throw passing[0] as Error
    const refusedSpaces = new Set<string>()
    plan.spaceWrites.forEach((write, i) => {
      const [err, refused] = results[i] ?? [null, []]
      const bad = err === null ? refusedKeys(write, refused) : new Map(write.spaceIds.map((id, n) => [id, write.keys[2 * n] as string]))
      for (const [n, spaceId] of write.spaceIds.entries()) {
        const key = bad.get(spaceId)
        if (key !== undefined) {
          refusedSpaces.add(spaceId)
          this.#faults.report(key, 'hash', err?.message ?? NOT_A_HASH, spaceId)
        } else {
          const [users, owners] = write.touches[n] ?? [false, false]
          if (users) this.#faults.clear(write.keys[2 * n] as string)
          if (owners) this.#faults.clear(write.keys[2 * n + 1] as string)
          // Written now: what was parked for these users is older.
          const parked = this.#parked.get(spaceId)
          if (parked !== undefined) for (const userId of batch.get(spaceId)?.keys() ?? []) parked.delete(userId)
        }
      }
    })
    results.forEach(([err], i) => {
      const target = targets[i]
      if (target === undefined) return
      if (err === null) this.#faults.clear(target.key)
      else this.#faults.report(target.key, target.type, err.message)
    })
    const inRefused = (member: string): boolean => refusedSpaces.has(splitMember(member).spaceId)
    for (const member of plan.claimed) if (!inRefused(member)) this.#owned.add(member)
    for (const member of plan.disowned) this.#owned.delete(member)
    if (refusedSpaces.size > 0) await this.#park(batch, refusedSpaces, plan.claimed.filter(inRefused))
  }

  /** Keeps a refused space's writes for a later try, and takes its members out of the indexes and this server's set again. */
  async #park (batch: PendingOps, spaceIds: Set<string>, claimed: string[]): Promise<void> {
    const { keys, serverId } = this.#context
    const members: string[] = []
    for (const spaceId of spaceIds) {
      const ops = batch.get(spaceId)
      if (ops === undefined) continue
      const parked = getOrCreate(this.#parked, spaceId, () => new Map<string, PendingOp>())
      for (const [userId, op] of ops) {
        parked.set(userId, op)
        members.push(indexMember(spaceId, userId))
      }
    }
    const undo = this.#redis.pipeline()
    inChunks(members, (chunk) => undo.zrem(keys.presenceIndex, ...chunk).zrem(keys.ghostIndex, ...chunk))
    inChunks(claimed, (chunk) => undo.srem(keys.serverUsers(serverId), ...chunk))
    await undo.exec()
  }

  /**
   * Every FAULT_RETRY_MS the faulty keys are looked at again; the parked writes of a space whose keys
   * hold Plaza's type again (someone removed the other writer's data) go back to the queue, under
   * anything newer. The others wait: their keys would refuse them the same way.
   */
  async #retryFaults (): Promise<void> {
    if ((this.#parked.size === 0 && this.#faults.isEmpty()) || Date.now() - this.#retriedAt < this.#faultRetryMs) return
    this.#retriedAt = Date.now()
    await this.#faults.heal(this.#redis)
    const { keys } = this.#context
    const healed: PendingOps = new Map()
    for (const [spaceId, ops] of this.#parked) {
      if (this.#faults.has(keys.spaceUsers(spaceId)) || this.#faults.has(keys.spaceOwners(spaceId))) continue
      healed.set(spaceId, ops)
      this.#parked.delete(spaceId)
    }
    this.#restore(healed)
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

/** The spaces of one write call whose keys refused it, each with the key that did (from the script's 1-based KEYS numbers). */
function refusedKeys (write: SpaceWrite, refused: unknown): Map<string, string> {
  const bad = new Map<string, string>()
  if (!Array.isArray(refused)) return bad
  for (const index of refused) {
    const spaceId = write.spaceIds[Math.ceil(Number(index) / 2) - 1]
    const key = write.keys[Number(index) - 1]
    if (spaceId !== undefined && key !== undefined) bad.set(spaceId, key)
  }
  return bad
}
