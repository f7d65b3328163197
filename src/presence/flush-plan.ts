import type { ChainableCommander, Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import { isDebugEnabled, type Logger } from '../logger.js'
import { encodeEntry, indexMember, splitMember } from './entry.js'
import type { KeyType } from './faults.js'
import type { PresenceRecord } from './store.js'

/** Queued per user: the record to write, null to remove the entry, RELEASED to let go of it unwritten. */
export const RELEASED = 'released'
export type PendingOp = PresenceRecord | null | typeof RELEASED
/** Queued writes by space, then by user. */
export type PendingOps = Map<string, Map<string, PendingOp>>

/** About how many arguments one write script call carries at most: Redis runs nothing else meanwhile. */
const MAX_WRITE_ARGS_PER_CALL = 10_000

/**
 * One plazaWriteSpaces call: its spaces in order, a pair of keys per space, the script's arguments,
 * and for each space whether its users hash and its owners hash are written at all.
 */
export interface SpaceWrite { spaceIds: string[], keys: string[], args: Array<string | number>, touches: Array<[users: boolean, owners: boolean]> }

/**
 * What a batch of queued writes becomes in Redis. Ownership changes only: a user who keeps moving
 * costs nothing in `claimed` and `disowned`. The sweep's index follows every write: scored by
 * lastUpdated, ghosts also in their own set.
 */
export interface FlushPlan {
  /** Each holds at least one space. */
  spaceWrites: SpaceWrite[]
  /** ZADD to the presence index: score, member, … */
  indexed: Array<number | string>
  /** ZADD to the ghost index: score, member, … */
  ghosts: Array<number | string>
  /** Members removed from both indexes. */
  unindexed: string[]
  /** Members this server starts writing for. */
  claimed: string[]
  /** Members this server stops writing for. */
  disowned: string[]
}

export interface FlushContext {
  keys: RedisKeys
  serverId: string
  ttlSeconds: number
  log: Logger
  /** Members this server holds connected and has listed in its users set. */
  owned: ReadonlySet<string>
}

/**
 * Plans a batch. Planning a space and making the pipeline are functions of their own: V8 optimizes
 * each loop apart, which costs a fresh process far less than one function holding them all.
 */
export function planFlush (batch: PendingOps, context: FlushContext): FlushPlan {
  const debug = isDebugEnabled(context.log)
  const plan: FlushPlan = { spaceWrites: [], indexed: [], ghosts: [], unindexed: [], claimed: [], disowned: [] }
  // The spaces' hashes in as few script calls as fit: HSET, HDEL and EXPIRE per space cost no command each.
  let write: SpaceWrite | undefined
  for (const [spaceId, ops] of batch) {
    if (write === undefined || write.args.length >= MAX_WRITE_ARGS_PER_CALL) {
      write = { spaceIds: [], keys: [], args: [context.serverId, context.ttlSeconds], touches: [] }
      plan.spaceWrites.push(write)
    }
    planSpace(plan, write, spaceId, ops, context, debug)
  }
  return plan
}

/** One space's part of a plan: its entry in the script call, its users' index changes. */
function planSpace (plan: FlushPlan, write: SpaceWrite, spaceId: string, ops: Map<string, PendingOp>, context: FlushContext, debug: boolean): void {
  const { indexed, ghosts, unindexed, claimed, disowned } = plan
  const args = write.args
  // Counts first, filled in once known: the script reads each before its items.
  const setAt = args.push(0) - 1
  const removed: string[] = []
  const owning: string[] = []
  for (const [userId, record] of ops) {
    const member = indexMember(spaceId, userId)
    const owned = context.owned.has(member)
    if (record === null || record === RELEASED || !record.connected) {
      if (owned) disowned.push(member)
    } else if (!owned) {
      claimed.push(member)
      owning.push(userId)
    }
    if (record === RELEASED) continue
    if (record === null) {
      removed.push(userId)
      unindexed.push(member)
      continue
    }
    args.push(userId, encodeEntry(record, context.serverId))
    indexed.push(record.lastUpdated, member)
    if (!record.connected) ghosts.push(record.lastUpdated, member)
    if (debug) {
      context.log.debug({ spaceId, userId, x: record.x, y: record.y },
        `📍 [REDIS SPACE] Updated position for user ${userId} in space ${spaceId} to (${record.x}, ${record.y})`)
    }
  }
  write.spaceIds.push(spaceId)
  write.touches.push([args.length - setAt - 1 + removed.length > 0, owning.length > 0])
  write.keys.push(context.keys.spaceUsers(spaceId), context.keys.spaceOwners(spaceId))
  args[setAt] = args.length - setAt - 1
  args.push(removed.length)
  for (const userId of removed) args.push(userId)
  args.push(owning.length)
  for (const userId of owning) args.push(userId)
}

/** The key a pipeline's command writes, and what Plaza keeps there; undefined for the spaces' scripts, which report per key. */
export type Target = { key: string, type: KeyType } | undefined

/** A plan's commands in one pipeline, and each command's target, in order. */
export function flushPipeline (redis: Redis, plan: FlushPlan, context: FlushContext): { pipeline: ChainableCommander, targets: Target[] } {
  const { keys, serverId } = context
  const pipeline = redis.pipeline()
  const targets: Target[] = []
  for (const write of plan.spaceWrites) {
    pipeline.plazaWriteSpaces(write.keys.length, write.keys, write.args)
    targets.push(undefined)
  }
  const add = (key: string, type: KeyType, items: Array<string | number>, command: (chunk: Array<string | number>) => unknown): void => {
    inChunks(items, (chunk) => {
      command(chunk)
      targets.push({ key, type })
    })
  }
  const { indexed, ghosts, unindexed, claimed, disowned } = plan
  add(keys.presenceIndex, 'zset', indexed, (chunk) => pipeline.zadd(keys.presenceIndex, ...chunk))
  add(keys.ghostIndex, 'zset', ghosts, (chunk) => pipeline.zadd(keys.ghostIndex, ...chunk))
  add(keys.presenceIndex, 'zset', unindexed, (chunk) => pipeline.zrem(keys.presenceIndex, ...chunk))
  add(keys.ghostIndex, 'zset', unindexed.concat(claimed), (chunk) => pipeline.zrem(keys.ghostIndex, ...chunk))
  const serverUsers = keys.serverUsers(serverId)
  add(serverUsers, 'set', claimed, (chunk) => pipeline.sadd(serverUsers, ...chunk))
  add(serverUsers, 'set', disowned, (chunk) => pipeline.srem(serverUsers, ...chunk))
  for (const member of disowned) {
    const { spaceId, userId } = splitMember(member)
    const owners = keys.spaceOwners(spaceId)
    pipeline.plazaDisown(owners, userId, serverId)
    targets.push({ key: owners, type: 'hash' })
  }
  return { pipeline, targets }
}

/**
 * Arguments per index command. They are spread into ioredis's calls, and V8 overflows its stack at
 * ~200,000 spread arguments (a refresh of 100,000 users). Even, so that ZADD's pairs stay together.
 */
const INDEX_ARGS_PER_COMMAND = 10_000

/** Calls `each` with consecutive slices of `items` (none when it is empty). */
export function inChunks<T> (items: T[], each: (chunk: T[]) => unknown): void {
  for (let i = 0; i < items.length; i += INDEX_ARGS_PER_COMMAND) each(items.slice(i, i + INDEX_ARGS_PER_COMMAND))
}
