import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import { LoopLoad } from '../util/loop-load.js'
import { ownConnectedEnding } from './entry.js'
import { NOT_A_HASH, type StoreFaults } from './faults.js'

/** A join's share of a claim call's answer: its avatar's previous owner, its space's hash. */
export interface ClaimReply {
  previous: string | null
  /** Flat field/value list, less this server's connected entries. */
  hash: string[]
}

interface PendingClaim {
  spaceId: string
  /** '' when there is nothing to claim (the user is here already). */
  userId: string
  resolve: (reply: ClaimReply) => void
  reject: (err: unknown) => void
}

/** One plazaClaimAndRead call: its keys and arguments, each space's number among them (1-based), and those with a claim. */
interface ClaimCall { spaces: Map<string, number>, claiming: Set<number>, keys: string[], args: Array<string | number> }

/**
 * How often at most a round of claim calls goes out while the server is saturated: the joins of
 * those milliseconds then share a call, and its write to Redis's socket.
 */
const CLAIM_SPACING_MS = 10
/** Below this share of busy time the loop has slack, and holding a join would only slow its client. */
const SATURATED = 0.9
/** The load is the share over the last one to two of these. */
const LOAD_WINDOW_MS = 100
/** How many joins one call carries at most: Redis runs nothing else meanwhile. */
const MAX_CLAIMS_PER_CALL = 200

export interface ClaimBatcherOptions {
  redis: Redis
  keys: RedisKeys
  serverId: string
  /** The owners hashes' TTL. */
  ttlSeconds: number
  /** How often at most a round goes out while the server is saturated (CLAIM_SPACING_MS unless given). */
  claimSpacingMs?: number
  /** Whether the server is saturated (unless given: its event loop was busy SATURATED of the last LOAD_WINDOW_MS or two). */
  saturated?: () => boolean
}

/**
 * A group commit of joins' claims. The joins of a turn of the event loop share one script call,
 * and while a call is on its way the joins that arrive meanwhile wait for it, then go together;
 * while the server is saturated, no sooner than CLAIM_SPACING_MS after the last round. A storm of
 * 2,000 joins then costs ~100 calls, not 2,000. Each call is bounded by the command timeout, so a
 * join waits two of them at worst.
 */
export class ClaimBatcher {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #serverId: string
  readonly #ttlSeconds: number
  readonly #ownConnectedEnding: string
  readonly #claimSpacingMs: number
  readonly #saturated: () => boolean
  readonly #loopLoad?: LoopLoad
  readonly #faults: StoreFaults
  #claims: PendingClaim[] = []
  #scheduled = false
  /** A round of calls is on its way; joins queue behind it. */
  #claiming = false
  /** When the last round went out (performance.now()). */
  #lastRoundAt = Number.NEGATIVE_INFINITY
  /** The wait before the next round, while there is one. */
  #spacing: NodeJS.Timeout | undefined

  constructor (options: ClaimBatcherOptions, faults: StoreFaults) {
    this.#faults = faults
    this.#redis = options.redis
    this.#keys = options.keys
    this.#serverId = options.serverId
    this.#ttlSeconds = options.ttlSeconds
    this.#ownConnectedEnding = ownConnectedEnding(options.serverId)
    this.#claimSpacingMs = options.claimSpacingMs ?? CLAIM_SPACING_MS
    if (options.saturated === undefined) {
      const load = new LoopLoad(LOAD_WINDOW_MS)
      this.#loopLoad = load
      this.#saturated = () => load.utilization() >= SATURATED
    } else {
      this.#saturated = options.saturated
    }
  }

  /** Claims `userId`'s avatar in the space ('' claims nothing) and reads the space, with the joins of the moment. */
  claim (spaceId: string, userId: string): Promise<ClaimReply> {
    return new Promise((resolve, reject) => {
      this.#claims.push({ spaceId, userId, resolve, reject })
      this.#schedule()
    })
  }

  /** Sends the joins waiting out the spacing, while the connection is still open. */
  close (): void {
    this.#loopLoad?.close()
    if (this.#spacing !== undefined) this.#sendRound()
  }

  #schedule (): void {
    if (this.#scheduled || this.#claiming) return
    this.#scheduled = true
    const wait = this.#lastRoundAt + this.#claimSpacingMs - performance.now()
    if (wait > 0 && this.#saturated()) this.#spacing = setTimeout(() => this.#sendRound(), wait)
    else setImmediate(() => this.#sendRound())
  }

  /** Sends the queued joins, in calls of MAX_CLAIMS_PER_CALL. */
  #sendRound (): void {
    this.#scheduled = false
    clearTimeout(this.#spacing)
    this.#spacing = undefined
    const claims = this.#claims
    if (claims.length === 0) return
    this.#claims = []
    this.#claiming = true
    this.#lastRoundAt = performance.now()
    const calls: Array<Promise<void>> = []
    for (let i = 0; i < claims.length; i += MAX_CLAIMS_PER_CALL) calls.push(this.#call(claims.slice(i, i + MAX_CLAIMS_PER_CALL)))
    void Promise.allSettled(calls).then(() => {
      this.#claiming = false
      if (this.#claims.length > 0) this.#schedule()
    })
  }

  /**
   * One script call for these joins, settling each. Sent at once (UNPIPELINED_COMMANDS): auto-
   * pipelining would hold it for another turn, and the joins are batched already. Building the
   * arguments and handing out the answer are functions of their own, so that V8 compiles each apart.
   */
  async #call (claims: PendingClaim[]): Promise<void> {
    try {
      const { spaces, claiming, keys, args } = this.#arguments(claims)
      const [previous, reads, refused] = await this.#redis.plazaClaimAndRead(keys.length, keys, args)
      settle(claims, spaces, previous, reads, this.#foreignSpaces(spaces, claiming, keys, refused))
    } catch (err) {
      for (const { reject } of claims) reject(err)
    }
  }

  /** The spaces the script left alone, their refusing keys reported; the other spaces' faults are over. */
  #foreignSpaces (spaces: Map<string, number>, claiming: Set<number>, keys: string[], refused: number[]): Set<string> {
    const bad = new Map(refused.map((index) => [Math.ceil(index / 2), keys[index - 1] as string]))
    const found = new Set<string>()
    for (const [spaceId, number] of spaces) {
      const key = bad.get(number)
      if (key !== undefined) {
        found.add(spaceId)
        this.#faults.report(key, 'hash', NOT_A_HASH, spaceId)
      } else {
        if (claiming.has(number)) this.#faults.clear(keys[number * 2 - 2] as string)
        this.#faults.clear(keys[number * 2 - 1] as string)
      }
    }
    return found
  }

  #arguments (claims: PendingClaim[]): ClaimCall {
    const spaces = new Map<string, number>()
    const claiming = new Set<number>()
    const keys: string[] = []
    const args: Array<string | number> = [this.#serverId, this.#ttlSeconds, this.#ownConnectedEnding]
    for (const { spaceId, userId } of claims) {
      let index = spaces.get(spaceId)
      if (index === undefined) {
        index = spaces.size + 1
        spaces.set(spaceId, index)
        keys.push(this.#keys.spaceOwners(spaceId), this.#keys.spaceUsers(spaceId))
      }
      if (userId !== '') claiming.add(index)
      args.push(index, userId)
    }
    return { spaces, claiming, keys, args }
  }

}

/** Hands each join its share of the script's answer; a join into a space whose keys are not Plaza's fails. */
function settle (claims: PendingClaim[], spaces: Map<string, number>, previous: Array<string | null>, reads: string[][], foreign: Set<string>): void {
  let next = 0
  for (const { spaceId, userId, resolve, reject } of claims) {
    const owner = userId === '' ? null : (previous[next++] ?? null)
    if (foreign.has(spaceId)) reject(new Error(NOT_A_HASH))
    else resolve({ previous: owner, hash: reads[(spaces.get(spaceId) as number) - 1] ?? [] })
  }
}
