import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import { isDebugEnabled, type Logger } from '../logger.js'
import { definePlazaScripts } from '../scripts/index.js'
import { readCensus, readTotals } from './census.js'
import { ClaimBatcher, type ClaimBatcherOptions } from './claim-batcher.js'
import { decodeEntry, indexMember } from './entry.js'
import { inChunks } from './flush-plan.js'
import { StoreFaults } from './faults.js'
import type { Census, JoinRead, PresenceRecord, PresenceStore, PresenceTotals, StoreFaultReport, StoredUser } from './store.js'
import { WriteQueue, type WriteQueueOptions } from './write-queue.js'

/** The write queue's settings, and the claim batcher's spacing (see each). */
export interface RedisPresenceStoreOptions extends WriteQueueOptions, Pick<ClaimBatcherOptions, 'claimSpacingMs' | 'saturated'> {}

/**
 * The design's `space:{spaceId}:users` hashes in Redis, shared by every server: joins claim and read
 * in group commits (ClaimBatcher), writes go behind (WriteQueue), counts come from the indexes.
 */
export class RedisPresenceStore implements PresenceStore {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #log: Logger
  readonly #claims: ClaimBatcher
  readonly #writes: WriteQueue
  readonly #faults: StoreFaults

  constructor (options: RedisPresenceStoreOptions) {
    this.#redis = definePlazaScripts(options.redis)
    this.#keys = options.keys
    this.#log = options.log
    this.#faults = new StoreFaults(options.log)
    this.#claims = new ClaimBatcher(options, this.#faults)
    this.#writes = new WriteQueue(options, this.#faults)
  }

  /**
   * The claim is atomic: two servers joining the same user at once are ordered in Redis, and the
   * second learns of the first and takes over from it.
   */
  async claimAndRead (spaceId: string, userId: string, claim: boolean): Promise<JoinRead> {
    const byId = new Map<string, StoredUser>()
    let fromStore = false
    let previousOwner: string | undefined
    if (this.#redis.status === 'ready') {
      try {
        const { previous, hash } = await this.#claims.claim(spaceId, claim ? userId : '')
        previousOwner = previous ?? undefined
        for (let i = 0; i + 1 < hash.length; i += 2) {
          const user = decodeEntry(hash[i] as string, hash[i + 1] as string)
          if (user !== undefined) byId.set(user.userId, user)
        }
        fromStore = true
        if (isDebugEnabled(this.#log)) this.#log.debug({ spaceId, count: byId.size }, `📖 [REDIS SPACE] Retrieved ${byId.size} users from space ${spaceId}`)
      } catch (err) {
        // Per join, so debug: the outage itself is logged once, where it starts and ends.
        this.#log.debug({ err, spaceId }, `Could not read users of space ${spaceId} from Redis; using memory only`)
      }
    }
    this.#writes.overlay(spaceId, byId)
    return { users: [...byId.values()], fromStore, previousOwner }
  }

  save (spaceId: string, record: PresenceRecord): void {
    this.#writes.save(spaceId, record)
  }

  saveJoin (spaceId: string, record: PresenceRecord): Promise<boolean> {
    return this.#writes.saveJoin(spaceId, record)
  }

  saveNow (spaceId: string, record: PresenceRecord): Promise<boolean> {
    return this.#writes.saveNow(spaceId, record)
  }

  remove (spaceId: string, userId: string): Promise<boolean> {
    return this.#writes.remove(spaceId, userId)
  }

  release (spaceId: string, userId: string): void {
    this.#writes.release(spaceId, userId)
  }

  reclaim (): void {
    this.#writes.reclaim()
  }

  flush (): Promise<boolean> {
    return this.#writes.flush()
  }

  census (): Promise<Census> {
    return readCensus(this.#redis, this.#keys)
  }

  totals (): Promise<PresenceTotals> {
    return readTotals(this.#redis, this.#keys)
  }

  faults (): StoreFaultReport {
    return { keys: this.#faults.list(), refused: this.#faults.total }
  }

  /** Removes the space's entries and their index members; a key that holds another writer's data is left to it. */
  async removeSpace (spaceId: string): Promise<StoredUser[]> {
    this.#writes.dropSpace(spaceId)
    const users = this.#keys.spaceUsers(spaceId)
    const owners = this.#keys.spaceOwners(spaceId)
    const [usersType, ownersType] = await Promise.all([this.#redis.type(users), this.#redis.type(owners)])
    const hash = usersType === 'hash' ? await this.#redis.hgetall(users) : {}
    const removed = Object.entries(hash).map(([userId, value]) => decodeEntry(userId, value)).filter((u) => u !== undefined)
    const members = Object.keys(hash).map((userId) => indexMember(spaceId, userId))
    const pipeline = this.#redis.pipeline()
    if (usersType === 'hash') pipeline.del(users)
    if (ownersType === 'hash') pipeline.del(owners)
    inChunks(members, (chunk) => pipeline.zrem(this.#keys.presenceIndex, ...chunk).zrem(this.#keys.ghostIndex, ...chunk))
    await pipeline.exec()
    return removed
  }

  async close (): Promise<void> {
    this.#claims.close()
    await this.#writes.close()
  }
}
