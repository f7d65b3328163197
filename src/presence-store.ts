import type { Redis } from 'ioredis'
import type { RedisKeys } from './keys.js'
import { isDebugEnabled, type Logger } from './logger.js'
import { LoopLoad } from './loop-load.js'
import { getOrCreate } from './maps.js'
import { parseJsonObject } from './protocol.js'
import { indexMember } from './stale-sweeper.js'

/** One user's presence in a space, as the room manager knows it. */
export interface PresenceRecord {
  readonly userId: string
  readonly username: string
  readonly x: number
  readonly y: number
  readonly connectionId: string
  /** ms since epoch of the last move, refresh or drop. */
  readonly lastUpdated: number
  readonly connected: boolean
}

/** A presence entry read back from the store; `serverId` names the server that wrote it. */
export interface StoredUser extends PresenceRecord {
  serverId?: string
}

/** What a join reads from the store. */
export interface JoinRead {
  users: StoredUser[]
  /** False when Redis did not answer: `users` are this server's unflushed writes only. */
  fromStore: boolean
  /** The server that held the avatar before this claim (undefined: none, no claim, or Redis is away). */
  previousOwner: string | undefined
}

/** What the store knows across every server: users (ghosts counted apart), by space. */
export interface Census {
  totalUsers: number
  connectedUsers: number
  ghostUsers: number
  spacesWithUsers: Array<{ spaceId: string, userCount: number, ghostCount: number }>
}

/**
 * Where who-is-where outlives a connection. The room manager talks to this interface only; writes
 * are queued and never awaited on the path of a move.
 */
export interface PresenceStore {
  /**
   * For a join: claims the user's avatar in the space for this server (unless `claim` is false: it is
   * here already) and reads everyone the store knows there, with this server's unflushed writes
   * applied on top, but for the users connected to this server: its memory has them. `previousOwner`
   * is the server that held the avatar before.
   */
  claimAndRead: (spaceId: string, userId: string, claim: boolean) => Promise<JoinRead>
  /** Queues the record's state (read when the queue is flushed, so the latest position wins). */
  save: (spaceId: string, record: PresenceRecord) => void
  /** Queues the removal of a user from a space. */
  remove: (spaceId: string, userId: string) => void
  /** Writes what is queued now; true when everything queued reached the store. */
  flush: () => Promise<boolean>
  /** Counts what the store holds, across every server, by space. */
  census: () => Promise<Census>
  /** The same totals without the breakdown by space: two counts, whatever the number of users. */
  totals: () => Promise<{ connectedUsers: number, ghostUsers: number }>
  /** Forgets a whole space (its definition was deleted). */
  removeSpace: (spaceId: string) => Promise<void>
  close: () => Promise<void>
}

export interface RedisPresenceStoreOptions {
  redis: Redis
  keys: RedisKeys
  log: Logger
  serverId: string
  ttlSeconds: number
  flushIntervalMs: number
  /** How often at most a round of claim calls goes out while the server is saturated (CLAIM_SPACING_MS unless given). */
  claimSpacingMs?: number
  /** Whether the server is saturated (unless given: its event loop was busy for SATURATED of the last one to two LOAD_WINDOW_MS). */
  saturated?: () => boolean
}

/** Lua's unpack() refuses ~8,000 values: HSET and HDEL inside a script take this many at a time. */
const ARGS_PER_REDIS_CALL = 1000

/**
 * The joins of one turn in one command: claims each user's avatar for a server and reads the users
 * hash of each space, atomically. KEYS: the owners and users hashes of each space of the batch, in
 * pairs. ARGV: this server's id, the owners hashes' TTL, how this server's connected entries end, then
 * for each join its space's number (1-based) and the user id to claim ('' for none). Answers {the
 * previous owner of each claim, in order (nil: none), each space's hash as a flat field/value list},
 * less the entries that end with ARGV[3]: those this server wrote for users connected to it, whom its
 * memory knows better (PROTOCOL §3: memory wins). In a join storm on one server that is nearly the
 * whole hash, which then costs neither bytes nor parsing.
 */
const CLAIM_AND_READ_SCRIPT = `
local serverId, ttl, own = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local previous = {}
local expiring = {}
for i = 4, #ARGV, 2 do
  local owners = KEYS[tonumber(ARGV[i]) * 2 - 1]
  local userId = ARGV[i + 1]
  if userId ~= '' then
    previous[#previous + 1] = redis.call('HGET', owners, userId)
    redis.call('HSET', owners, userId, serverId)
    if not expiring[owners] then
      expiring[owners] = true
      redis.call('EXPIRE', owners, ttl)
    end
  end
end
local reads = {}
for s = 2, #KEYS, 2 do
  local hash = redis.call('HGETALL', KEYS[s])
  local others = {}
  for i = 1, #hash, 2 do
    local value = hash[i + 1]
    if string.sub(value, -#own) ~= own then
      others[#others + 1] = hash[i]
      others[#others + 1] = value
    end
  end
  reads[#reads + 1] = others
end
return { previous, reads }
`

/**
 * A flush's writes to the users hashes of many spaces in one command. KEYS: each space's users and
 * owners hashes, in pairs. ARGV: this server's id, the hashes' TTL, then for each space the number of
 * field/value items to set and those items, the number of fields to delete and those fields, the
 * number of users to own and those users. Each users hash's expiry is refreshed.
 *
 * Owning: a user this server writes as connected for the first time since it held them is entered
 * in the owners hash, unless another server is there. The join's claim did it already; this repairs
 * a claim that a disown sent earlier but run later took away (a drop and a rejoin in quick
 * succession), so that a later join elsewhere still finds this server and takes the avatar over.
 */
const WRITE_SPACES_SCRIPT = `
local serverId, ttl = ARGV[1], tonumber(ARGV[2])
local a = 3
local function each (key, command, from, count)
  for i = from, from + count - 1, ARGS_PER_CALL do
    redis.call(command, key, unpack(ARGV, i, math.min(i + ARGS_PER_CALL - 1, from + count - 1)))
  end
end
for k = 1, #KEYS, 2 do
  local users, owners = KEYS[k], KEYS[k + 1]
  local set = tonumber(ARGV[a])
  each(users, 'HSET', a + 1, set)
  a = a + 1 + set
  local removed = tonumber(ARGV[a])
  each(users, 'HDEL', a + 1, removed)
  a = a + 1 + removed
  redis.call('EXPIRE', users, ttl)
  local owned = tonumber(ARGV[a])
  for i = a + 1, a + owned do
    local holder = redis.call('HGET', owners, ARGV[i])
    if not holder then
      redis.call('HSET', owners, ARGV[i], serverId)
      redis.call('EXPIRE', owners, ttl)
    end
  end
  a = a + 1 + owned
end
return #KEYS / 2
`.replace(/ARGS_PER_CALL/g, String(ARGS_PER_REDIS_CALL))

/** Lets go of a user's avatar, if this server still holds it (a newer claim elsewhere wins). */
const DISOWN_SCRIPT = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`

/** What a join's claim and read answer: the avatar's previous owner, and the space's hash (see the script). */
interface ClaimReply {
  previous: string | null
  hash: string[]
}

interface PendingClaim {
  spaceId: string
  /** '' when there is nothing to claim (the user is here already). */
  userId: string
  resolve: (reply: ClaimReply) => void
  reject: (err: unknown) => void
}

/**
 * How often at most a round of claim calls goes out while the server is saturated: in a storm, the
 * joins of those milliseconds share a call (and its write to Redis's socket, which costs more than
 * the script), instead of one call per turn of the event loop.
 */
const CLAIM_SPACING_MS = 10
/** Below this share of busy time the loop has slack, and holding a join would only slow its client. */
const SATURATED = 0.9
/** The load is the share over the last one to two of these. */
const LOAD_WINDOW_MS = 100

/** How many joins one script call carries at most: Redis runs nothing else meanwhile. */
const MAX_CLAIMS_PER_CALL = 200
/** About how many arguments one flush script call carries at most, for the same reason. */
const MAX_WRITE_ARGS_PER_CALL = 10_000

/**
 * What a client should leave out of auto-pipelining (ioredis's `autoPipeliningIgnoredCommands`): a
 * claim call batches the joins of its moment already, and goes at once rather than a turn later, with
 * no pipeline object of its own (~3% of a join's CPU when joins come one at a time).
 */
export const UNPIPELINED_COMMANDS = ['plazaClaimAndRead']

interface OwnershipCommands {
  plazaClaimAndRead: (numberOfKeys: number, keys: string[], args: Array<string | number>) => Promise<[Array<string | null>, string[][]]>
  plazaDisown: (owners: string, userId: string, serverId: string) => Promise<number>
  plazaWriteSpaces: (numberOfKeys: number, keys: string[], args: Array<string | number>) => Promise<number>
}

/**
 * How long a join's write may wait for others'. Nothing waits on it: the joiner has its space-joined
 * already, and other servers hear of the join on the bus; only a crash in this window loses it.
 */
const JOIN_WRITE_DELAY_MS = 20

/** Queued per user: the record to write, null to remove the entry, RELEASED to let go of it unwritten. */
const RELEASED = 'released'
type PendingOp = PresenceRecord | null | typeof RELEASED
type PendingOps = Map<string, Map<string, PendingOp>>

/** One plazaWriteSpaces call: a pair of keys per space and the script's arguments. */
interface SpaceWrite { keys: string[], args: Array<string | number> }

/** One plazaClaimAndRead call: its keys and arguments, and each space's number among them (1-based). */
interface ClaimCall { spaces: Map<string, number>, keys: string[], args: Array<string | number> }

/**
 * What a flush writes. Ownership changes only: a user who keeps moving costs nothing in `claimed`
 * and `disowned`. The sweep's index follows every write: scored by lastUpdated, ghosts also in
 * their own set.
 */
interface FlushPlan {
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

/** Hands each join its share of the claim script's answer: its avatar's previous owner, its space's hash. */
function settleClaims (claims: PendingClaim[], spaces: Map<string, number>, previous: Array<string | null>, reads: string[][]): void {
  let next = 0
  for (const { spaceId, userId, resolve } of claims) {
    resolve({ previous: userId === '' ? null : (previous[next++] ?? null), hash: reads[(spaces.get(spaceId) as number) - 1] ?? [] })
  }
}

/**
 * The design's `space:{spaceId}:users` hashes, written in coalesced pipelines: however often a user
 * moves, one HSET per space per flush carries everyone's latest state, and the hash's expiry is
 * refreshed with it. When Redis is away, queued writes wait (one per user, so the queue is bounded
 * by the number of users) and go out when it is back.
 */
export class RedisPresenceStore implements PresenceStore {
  readonly #redis: Redis
  /** The same client, with this store's scripts. */
  readonly #commands: OwnershipCommands
  readonly #keys: RedisKeys
  readonly #log: Logger
  readonly #serverId: string
  /** How #encode ends an entry of a user connected to this server (see CLAIM_AND_READ_SCRIPT). */
  readonly #ownConnectedEnding: string
  readonly #ttlSeconds: number
  readonly #timer: NodeJS.Timeout
  #pending: PendingOps = new Map()
  /**
   * Batches out of #pending whose write may be unknown to a join's read still under way: a read
   * that Redis answered before the batch landed must still see it (a user's drop, say). A batch
   * stays here until the turn after its write is confirmed, since the read's reply, parsed from the
   * same socket data, may resume after the write's.
   */
  readonly #writing = new Set<PendingOps>()
  /** Entries this server holds connected and has listed in its users set (`plaza:server:{id}:users`). */
  readonly #owned = new Set<string>()
  #inFlight: Promise<boolean> | undefined
  #followUp: Promise<boolean> | undefined
  #followUpUrgentOnly = true
  /** Queued writes that should not wait for the interval, by space. */
  readonly #urgent = new Map<string, Set<string>>()
  #soon: Promise<boolean> | undefined
  #shortly: Promise<boolean> | undefined
  #failing = false
  /** Joins waiting for their script call (#claim). */
  #claims: PendingClaim[] = []
  #claimsScheduled = false
  /** A round of claim calls is on its way; joins queue behind it. */
  #claiming = false
  /** When the last round went out (performance.now()). */
  #lastClaimsAt = Number.NEGATIVE_INFINITY
  readonly #saturated: () => boolean
  readonly #loopLoad?: LoopLoad
  readonly #claimSpacingMs: number
  /** The wait before the next round, while there is one. */
  #spacing: NodeJS.Timeout | undefined

  constructor (options: RedisPresenceStoreOptions) {
    this.#redis = options.redis
    this.#commands = options.redis as unknown as OwnershipCommands
    this.#keys = options.keys
    this.#log = options.log
    this.#serverId = options.serverId
    this.#ownConnectedEnding = `,"connected":true,"serverId":${JSON.stringify(options.serverId)}}`
    this.#ttlSeconds = options.ttlSeconds
    this.#timer = setInterval(() => { void this.flush() }, options.flushIntervalMs).unref()
    this.#claimSpacingMs = options.claimSpacingMs ?? CLAIM_SPACING_MS
    if (options.saturated === undefined) {
      const load = new LoopLoad(LOAD_WINDOW_MS)
      this.#loopLoad = load
      this.#saturated = () => load.utilization() >= SATURATED
    } else {
      this.#saturated = options.saturated
    }
    this.#redis.defineCommand('plazaClaimAndRead', { lua: CLAIM_AND_READ_SCRIPT })
    this.#redis.defineCommand('plazaDisown', { numberOfKeys: 1, lua: DISOWN_SCRIPT })
    this.#redis.defineCommand('plazaWriteSpaces', { lua: WRITE_SPACES_SCRIPT })
  }

  /**
   * The claim is atomic: two servers joining the same user at once are ordered in Redis, the second
   * learns of the first and takes over from it. Joins share their script call (see #claim).
   */
  async claimAndRead (spaceId: string, userId: string, claim: boolean): Promise<JoinRead> {
    const byId = new Map<string, StoredUser>()
    let fromStore = false
    let previousOwner: string | undefined
    if (this.#redis.status === 'ready') {
      try {
        const { previous, hash } = await this.#claim(spaceId, claim ? userId : '')
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
    // What this server wrote but Redis may not show yet: the batch in flight, then the newer queue.
    for (const batch of this.#writing) this.#overlay(byId, batch.get(spaceId))
    this.#overlay(byId, this.#pending.get(spaceId))
    return { users: [...byId.values()], fromStore, previousOwner }
  }

  /** Lays writes of one space that Redis may not show yet over what it answered. */
  #overlay (byId: Map<string, StoredUser>, ops: Map<string, PendingOp> | undefined): void {
    if (ops === undefined) return
    for (const [userId, record] of ops) {
      // Connected here: memory has them, as for the entries the script left out.
      if (record === null || (record !== RELEASED && record.connected)) byId.delete(userId)
      else if (record !== RELEASED) byId.set(userId, { ...snapshot(record), serverId: this.#serverId })
    }
  }

  /**
   * Queues a join's claim and read for the next script call. The joins of a turn of the event loop
   * share one call, and while a call is on its way the joins that arrive meanwhile wait for it, then
   * go together (a group commit); while the server is saturated, no sooner than CLAIM_SPACING_MS after
   * the last round: a storm of 2,000 joins costs ~100 calls, not 2,000, each join waiting for the
   * longer of the spacing and the call already out, then for its own. Each call is bounded by the
   * command timeout, so a join waits two of them at worst.
   */
  #claim (spaceId: string, userId: string): Promise<ClaimReply> {
    return new Promise((resolve, reject) => {
      this.#claims.push({ spaceId, userId, resolve, reject })
      this.#scheduleClaims()
    })
  }

  #scheduleClaims (): void {
    if (this.#claimsScheduled || this.#claiming) return
    this.#claimsScheduled = true
    const wait = this.#lastClaimsAt + this.#claimSpacingMs - performance.now()
    if (wait > 0 && this.#saturated()) this.#spacing = setTimeout(() => this.#sendClaims(), wait)
    else setImmediate(() => this.#sendClaims())
  }

  /** Sends the queued joins' round of calls (in calls of MAX_CLAIMS_PER_CALL). */
  #sendClaims (): void {
    this.#claimsScheduled = false
    clearTimeout(this.#spacing)
    this.#spacing = undefined
    const claims = this.#claims
    if (claims.length === 0) return
    this.#claims = []
    this.#claiming = true
    this.#lastClaimsAt = performance.now()
    const calls: Array<Promise<void>> = []
    for (let i = 0; i < claims.length; i += MAX_CLAIMS_PER_CALL) calls.push(this.#claimAll(claims.slice(i, i + MAX_CLAIMS_PER_CALL)))
    void Promise.allSettled(calls).then(() => {
      this.#claiming = false
      if (this.#claims.length > 0) this.#scheduleClaims()
    })
  }

  /**
   * One script call for these joins, settling each of them. Sent at once (UNPIPELINED_COMMANDS): auto-
   * pipelining would hold it for another turn of the event loop, and the joins are batched already.
   * Its arguments are built and its answer handed out by separate functions: in a storm V8 then
   * compiles the loop that builds them alone (bench/RESULTS.md, run O).
   */
  async #claimAll (claims: PendingClaim[]): Promise<void> {
    try {
      const { spaces, keys, args } = this.#claimArguments(claims)
      const [previous, reads] = await this.#commands.plazaClaimAndRead(keys.length, keys, args)
      settleClaims(claims, spaces, previous, reads)
    } catch (err) {
      for (const { reject } of claims) reject(err)
    }
  }

  /** The script call for these joins. */
  #claimArguments (claims: PendingClaim[]): ClaimCall {
    const spaces = new Map<string, number>()
    const keys: string[] = []
    const args: Array<string | number> = [this.#serverId, this.#ttlSeconds, this.#ownConnectedEnding]
    for (const { spaceId, userId } of claims) {
      let index = spaces.get(spaceId)
      if (index === undefined) {
        index = spaces.size + 1
        spaces.set(spaceId, index)
        keys.push(this.#keys.spaceOwners(spaceId), this.#keys.spaceUsers(spaceId))
      }
      args.push(index, userId)
    }
    return { spaces, keys, args }
  }

  save (spaceId: string, record: PresenceRecord, urgent = false): void {
    this.#queue(spaceId).set(record.userId, record)
    if (urgent) this.#markUrgent(spaceId, record.userId)
  }

  remove (spaceId: string, userId: string): void {
    this.#queue(spaceId).set(userId, null)
    this.#markUrgent(spaceId, userId)
  }

  /** Another server took the user over: nothing more is written for them from here. */
  release (spaceId: string, userId: string): void {
    this.#queue(spaceId).set(userId, RELEASED)
    this.#markUrgent(spaceId, userId)
  }

  #markUrgent (spaceId: string, userId: string): void {
    getOrCreate(this.#urgent, spaceId, () => new Set<string>()).add(userId)
  }

  /** After this server was given up for dead: claim every user it writes again. */
  reclaim (): void {
    this.#owned.clear()
  }

  /**
   * Flushes the urgent writes (joins, drops, leaves) on the next turn of the event loop, so that a
   * burst of them shares one pipeline; moves wait for the interval, so that they stay coalesced.
   */
  flushSoon (): Promise<boolean> {
    this.#soon ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#soon = undefined
      return this.flush(true)
    })
    return this.#soon
  }

  /**
   * Flushes the urgent writes within JOIN_WRITE_DELAY_MS (or sooner, with the next flushSoon): joins
   * arriving together, as in a storm, then share a pipeline instead of paying one each.
   */
  flushShortly (): Promise<boolean> {
    this.#shortly ??= new Promise<void>((resolve) => setTimeout(resolve, JOIN_WRITE_DELAY_MS)).then(() => {
      this.#shortly = undefined
      return this.flush(true)
    })
    return this.#shortly
  }

  /**
   * One flush at a time, so that a failed batch can be put back under anything queued after it; calls
   * made meanwhile share a single follow-up, so a hung Redis never grows a queue of flushes.
   */
  flush (urgentOnly = false): Promise<boolean> {
    if (this.#inFlight === undefined) {
      this.#inFlight = this.#flushOnce(urgentOnly).finally(() => { this.#inFlight = undefined })
      return this.#inFlight
    }
    if (!urgentOnly) this.#followUpUrgentOnly = false
    this.#followUp ??= this.#inFlight.then(() => {
      const urgent = this.#followUpUrgentOnly
      this.#followUp = undefined
      this.#followUpUrgentOnly = true
      return this.flush(urgent)
    })
    return this.#followUp
  }

  async totals (): Promise<{ connectedUsers: number, ghostUsers: number }> {
    const [all, ghosts] = await Promise.all([this.#redis.zcard(this.#keys.presenceIndex), this.#redis.zcard(this.#keys.ghostIndex)])
    return { connectedUsers: all - ghosts, ghostUsers: ghosts }
  }

  async census (): Promise<Census> {
    // Read from the sweep's indexes: one pass over every entry, whatever the number of spaces.
    const [all, ghosts] = await Promise.all([
      this.#redis.zrange(this.#keys.presenceIndex, '0', '-1'),
      this.#redis.zrange(this.#keys.ghostIndex, '0', '-1')
    ])
    const bySpace = new Map<string, { spaceId: string, userCount: number, ghostCount: number }>()
    const tally = (members: string[], field: 'userCount' | 'ghostCount'): void => {
      for (const member of members) {
        const spaceId = member.slice(0, member.indexOf(' '))
        let entry = bySpace.get(spaceId)
        if (entry === undefined) {
          entry = { spaceId, userCount: 0, ghostCount: 0 }
          bySpace.set(spaceId, entry)
        }
        entry[field]++
      }
    }
    tally(all, 'userCount')
    tally(ghosts, 'ghostCount')
    const spacesWithUsers = [...bySpace.values()].sort((a, b) => (a.spaceId < b.spaceId ? -1 : 1))
    return { totalUsers: all.length, connectedUsers: all.length - ghosts.length, ghostUsers: ghosts.length, spacesWithUsers }
  }

  async removeSpace (spaceId: string): Promise<void> {
    this.#pending.delete(spaceId)
    const key = this.#keys.spaceUsers(spaceId)
    const members = (await this.#redis.hkeys(key)).map((userId) => indexMember(spaceId, userId))
    const pipeline = this.#redis.pipeline().del(key, this.#keys.spaceOwners(spaceId))
    inChunks(members, (chunk) => pipeline.zrem(this.#keys.presenceIndex, ...chunk).zrem(this.#keys.ghostIndex, ...chunk))
    await pipeline.exec()
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    this.#loopLoad?.close()
    // Joins waiting out the spacing go now, while the connection is still open.
    if (this.#spacing !== undefined) this.#sendClaims()
    await this.flush()
  }

  #queue (spaceId: string): Map<string, PendingOp> {
    return getOrCreate(this.#pending, spaceId, () => new Map())
  }

  async #flushOnce (urgentOnly: boolean): Promise<boolean> {
    if (this.#pending.size === 0) return true
    if (this.#redis.status !== 'ready') return false
    const batch = urgentOnly ? this.#takeUrgent() : this.#pending
    if (!urgentOnly) this.#pending = new Map()
    this.#urgent.clear()
    if (batch.size === 0) return true
    const plan = this.#plan(batch)
    const pipeline = this.#pipeline(plan)
    const { claimed, disowned } = plan
    this.#writing.add(batch)
    try {
      const results = await pipeline.exec()
      const failed = results?.find(([err]) => err !== null)
      if (failed !== undefined) throw failed[0] as Error
      for (const member of claimed) this.#owned.add(member)
      for (const member of disowned) this.#owned.delete(member)
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
   * What a batch turns into, before any command is made. Split from #planSpace, #pipeline and
   * #flushOnce so that V8 optimizes each loop apart: as one function, its escape analysis alone took
   * ~100 ms on a fresh process's first storm (bench/RESULTS.md, run N).
   */
  #plan (batch: PendingOps): FlushPlan {
    const debug = isDebugEnabled(this.#log)
    const plan: FlushPlan = { spaceWrites: [], indexed: [], ghosts: [], unindexed: [], claimed: [], disowned: [] }
    // The spaces' hashes in as few script calls as fit: HSET, HDEL and EXPIRE per space cost no command each.
    let write: SpaceWrite | undefined
    for (const [spaceId, ops] of batch) {
      if (write === undefined || write.args.length >= MAX_WRITE_ARGS_PER_CALL) {
        write = { keys: [], args: [this.#serverId, this.#ttlSeconds] }
        plan.spaceWrites.push(write)
      }
      this.#planSpace(plan, write, spaceId, ops, debug)
    }
    return plan
  }

  /** One space's part of a plan: its entry in the script call, its users' index changes. */
  #planSpace (plan: FlushPlan, write: SpaceWrite, spaceId: string, ops: Map<string, PendingOp>, debug: boolean): void {
    const { indexed, ghosts, unindexed, claimed, disowned } = plan
    const args = write.args
    // Counts first, filled in once known: the script reads each before its items.
    const setAt = args.push(0) - 1
    const removed: string[] = []
    const owning: string[] = []
    for (const [userId, record] of ops) {
      const member = indexMember(spaceId, userId)
      const owned = this.#owned.has(member)
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
      args.push(userId, this.#encode(record))
      indexed.push(record.lastUpdated, member)
      if (!record.connected) ghosts.push(record.lastUpdated, member)
      if (debug) {
        this.#log.debug({ spaceId, userId, x: record.x, y: record.y },
          `📍 [REDIS SPACE] Updated position for user ${userId} in space ${spaceId} to (${record.x}, ${record.y})`)
      }
    }
    write.keys.push(this.#keys.spaceUsers(spaceId), this.#keys.spaceOwners(spaceId))
    args[setAt] = args.length - setAt - 1
    args.push(removed.length)
    for (const userId of removed) args.push(userId)
    args.push(owning.length)
    for (const userId of owning) args.push(userId)
  }

  /** A plan's commands in one pipeline: the spaces' script calls, then the sweep's and the owners' indexes. */
  #pipeline (plan: FlushPlan): ReturnType<Redis['pipeline']> {
    const pipeline = this.#redis.pipeline()
    const ownership = pipeline as unknown as OwnershipCommands
    for (const { keys, args } of plan.spaceWrites) ownership.plazaWriteSpaces(keys.length, keys, args)
    const { indexed, ghosts, unindexed, claimed, disowned } = plan
    inChunks(indexed, (chunk) => pipeline.zadd(this.#keys.presenceIndex, ...chunk))
    inChunks(ghosts, (chunk) => pipeline.zadd(this.#keys.ghostIndex, ...chunk))
    inChunks(unindexed, (chunk) => pipeline.zrem(this.#keys.presenceIndex, ...chunk))
    inChunks(unindexed.concat(claimed), (chunk) => pipeline.zrem(this.#keys.ghostIndex, ...chunk))
    const serverUsers = this.#keys.serverUsers(this.#serverId)
    inChunks(claimed, (chunk) => pipeline.sadd(serverUsers, ...chunk))
    inChunks(disowned, (chunk) => pipeline.srem(serverUsers, ...chunk))
    for (const member of disowned) {
      const sep = member.indexOf(' ')
      ownership.plazaDisown(this.#keys.spaceOwners(member.slice(0, sep)), member.slice(sep + 1), this.#serverId)
    }
    return pipeline
  }

  /** Takes the urgent writes out of the queue, leaving the others for the interval. */
  #takeUrgent (): PendingOps {
    const batch: PendingOps = new Map()
    for (const [spaceId, users] of this.#urgent) {
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

  /** `connected` and `serverId` come last: a join's read knows this server's connected users by that ending. */
  #encode (record: PresenceRecord): string {
    return JSON.stringify({
      username: record.username,
      x: record.x,
      y: record.y,
      connectionId: record.connectionId,
      lastUpdated: record.lastUpdated,
      connected: record.connected,
      serverId: this.#serverId
    })
  }
}

/**
 * Arguments per index command. The arrays are spread into ioredis's calls, and V8 overflows its
 * stack at ~200,000 spread arguments: a flush of 100,000 users (the periodic refresh rewrites them
 * all) would throw. Even, so that ZADD's score/member pairs stay together.
 */
const INDEX_ARGS_PER_COMMAND = 10_000

/** Calls `each` with consecutive slices of `items` (none when it is empty). */
function inChunks<T> (items: T[], each: (chunk: T[]) => unknown): void {
  for (let i = 0; i < items.length; i += INDEX_ARGS_PER_COMMAND) each(items.slice(i, i + INDEX_ARGS_PER_COMMAND))
}

function snapshot (record: PresenceRecord): PresenceRecord {
  const { userId, username, x, y, connectionId, lastUpdated, connected } = record
  return { userId, username, x, y, connectionId, lastUpdated, connected }
}

/** Reads one hash entry, tolerating what other writers (or older Plazas) may have left there. */
export function decodeEntry (userId: string, value: string): StoredUser | undefined {
  const e = parseJsonObject(value)
  if (e === undefined) return undefined
  if (!Number.isSafeInteger(e.x) || !Number.isSafeInteger(e.y)) return undefined
  return {
    userId,
    username: typeof e.username === 'string' ? e.username : userId,
    x: e.x as number,
    y: e.y as number,
    connectionId: typeof e.connectionId === 'string' ? e.connectionId : '',
    lastUpdated: typeof e.lastUpdated === 'number' ? e.lastUpdated : 0,
    // PROTOCOL §6: an entry without `connected` counts as connected.
    connected: e.connected !== false,
    ...(typeof e.serverId === 'string' ? { serverId: e.serverId } : {})
  }
}
