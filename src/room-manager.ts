import { Counters } from './counters.js'
import { Broadcast } from './dialects/index.js'
import type { DirectEvent, RoomEvent, UserView } from './events.js'
import type { Identity } from './identity.js'
import type { Logger } from './logger.js'
import type { Census, PresenceRecord, PresenceStore, StoredUser } from './presence-store.js'
import { CloseCode, ErrorCode, RejectReason, type Dialect } from './protocol.js'
import type { Space } from './space.js'
import type { SpaceRegistry } from './space-registry.js'
import type { SweptUser } from './stale-sweeper.js'

/** A connection as the room manager sees it: where frames go, and how it is ended. */
export interface Peer {
  readonly dialect: Dialect
  readonly connectionId: string
  readonly isOpen: boolean
  /** Sends a frame already encoded for this peer's dialect. */
  send: (frame: string) => void
  /** Encodes and sends an event meant for this peer alone. */
  tell: (event: DirectEvent) => void
  /** Tells the peer why (where its dialect can) and closes it; the room manager has let go of it. */
  end: (error: { code: ErrorCode, message: string, close: number }) => void
}

/** A user connected to this server, in one space. */
export class Member implements PresenceRecord {
  readonly userId: string
  readonly spaceId: string
  username: string
  x: number
  y: number
  peer: Peer
  connectionId: string
  lastUpdated: number
  connected = true
  moveWindowStart = 0
  movesInWindow = 0

  constructor (identity: Identity, spaceId: string, x: number, y: number, peer: Peer) {
    this.userId = identity.userId
    this.username = identity.username
    this.spaceId = spaceId
    this.x = x
    this.y = y
    this.peer = peer
    this.connectionId = peer.connectionId
    this.lastUpdated = Date.now()
  }
}

export interface RoomManagerOptions {
  spaces: SpaceRegistry
  presence: PresenceStore & { flushSoon: () => Promise<boolean> }
  log: Logger
  maxStep: number
  maxMovesPerS: number
  /** Connected users' `lastUpdated` is rewritten this often, so that they never look stale. */
  refreshIntervalMs: number
  counters?: Counters
  random?: () => number
}

export type JoinOutcome = Member | 'unknown-space' | 'gone'

export interface Stats {
  totalSpaces: number
  totalUsers: number
  spacesWithUsers: Array<{ spaceId: string, userCount: number }>
}

/**
 * Who is where, on this server. Memory is authoritative for this server's connections and every
 * move is judged and broadcast from it; the presence store is told afterwards and never awaited on
 * a move. Each lifecycle change (join, take-over, move, drop, leave) is synchronous once its inputs
 * are read, so no two of them interleave.
 */
export class RoomManager {
  readonly #rooms = new Map<string, Map<string, Member>>()
  readonly #spaces: SpaceRegistry
  readonly #presence: RoomManagerOptions['presence']
  readonly #log: Logger
  readonly #maxStep: number
  readonly #maxMovesPerS: number
  readonly #random: () => number
  readonly #refreshTimer: NodeJS.Timeout
  readonly counters: Counters

  constructor (options: RoomManagerOptions) {
    this.#spaces = options.spaces
    this.#presence = options.presence
    this.#log = options.log
    this.#maxStep = options.maxStep
    this.#maxMovesPerS = options.maxMovesPerS
    this.#random = options.random ?? Math.random
    this.counters = options.counters ?? new Counters()
    this.#refreshTimer = setInterval(() => this.refreshAll(), options.refreshIntervalMs).unref()
  }

  /**
   * Puts a verified user into a space: a take-over when the user is connected here already, a
   * resume when the store still has them (a ghost), a fresh spawn otherwise. The peer is sent its
   * `welcome`; everyone else is told unless it was a take-over.
   */
  async join (peer: Peer, identity: Identity, spaceId: string): Promise<JoinOutcome> {
    const resolved = await this.#spaces.resolve(spaceId)
    if (resolved === undefined) return 'unknown-space'
    const { users: stored, fromStore } = await this.#presence.readUsers(spaceId)
    // Everything below is synchronous: it sees one consistent room.
    const space = this.#spaces.get(spaceId)
    if (space === undefined) return 'unknown-space'
    if (!peer.isOpen) return 'gone'

    const room = this.#room(spaceId)
    const existing = room.get(identity.userId)
    let member: Member
    let resumed: boolean
    if (existing !== undefined) {
      const replaced = existing.peer
      existing.peer = peer
      existing.connectionId = peer.connectionId
      existing.username = identity.username
      replaced.end({ code: ErrorCode.Replaced, message: 'replaced by a newer connection of the same user', close: CloseCode.Replaced })
      member = existing
      resumed = true
      this.counters.joins.takeover++
      this.#log.info({ spaceId, userId: identity.userId }, `🔁 [SPACE JOIN] ${identity.username} took over their avatar in space ${spaceId} from an older connection`)
    } else {
      const previous = stored.find((u) => u.userId === identity.userId)
      resumed = previous !== undefined && space.isWalkable(previous.x, previous.y)
      const spawn = resumed && previous !== undefined ? previous : space.pickSpawn(this.#occupied(space, room, stored), this.#random)
      member = new Member(identity, spaceId, spawn.x, spawn.y, peer)
      room.set(member.userId, member)
      this.counters.joins[resumed ? 'resume' : 'new']++
    }

    const users = this.#snapshot(room, stored, member.userId)
    peer.tell({
      kind: 'welcome',
      userId: member.userId,
      spawn: { x: member.x, y: member.y },
      users,
      resumed,
      space: space.definition
    })
    if (existing === undefined) {
      this.#broadcast(room, { kind: 'joined', userId: member.userId, username: member.username, x: member.x, y: member.y }, member)
    }
    const fromMemory = room.size - 1
    this.#log.info({ spaceId, userId: member.userId, count: users.length, fromMemory, fromRedis: fromStore ? stored.length : 0 },
      `📊 [SPACE JOIN] Sending ${users.length} users to ${member.username}: ${fromMemory} from memory, ${fromStore ? stored.length : 0} from Redis`)

    this.#presence.save(spaceId, member)
    void this.#presence.flushSoon().then((saved) => {
      if (saved) {
        this.#log.info({ spaceId, userId: member.userId, x: member.x, y: member.y },
          `💾 [REDIS SPACE] Saved user ${member.username} in space ${spaceId} at (${member.x}, ${member.y})`)
      }
    })
    return member
  }

  /** Judges a step from memory, tells the mover if it is refused, otherwise broadcasts it. */
  move (member: Member, x: number, y: number): void {
    const space = this.#spaces.get(member.spaceId)
    if (space === undefined || member.peer.isOpen === false) return
    const now = Date.now()
    if (now - member.moveWindowStart >= 1000) {
      member.moveWindowStart = now
      member.movesInWindow = 0
    }
    const overRate = ++member.movesInWindow > this.#maxMovesPerS
    const reason = space.judgeStep(member.x, member.y, x, y, this.#maxStep) ?? (overRate ? RejectReason.RateLimited : undefined)
    if (reason !== undefined) {
      this.counters.moves[reason]++
      member.peer.tell({ kind: 'move-rejected', x: member.x, y: member.y, reason })
      return
    }
    this.counters.moves.accepted++
    member.x = x
    member.y = y
    member.lastUpdated = now
    const room = this.#rooms.get(member.spaceId)
    if (room !== undefined) this.#broadcast(room, { kind: 'moved', userId: member.userId, x, y }, member)
    this.#presence.save(member.spaceId, member)
  }

  /** The connection is gone but the user may come back: they stay in the store as a ghost. */
  drop (member: Member, peer: Peer): void {
    if (!this.#release(member, peer)) return
    member.connected = false
    member.lastUpdated = Date.now()
    this.counters.drops++
    this.#presence.save(member.spaceId, member)
    void this.#presence.flushSoon()
    this.#broadcast(this.#rooms.get(member.spaceId), { kind: 'dropped', userId: member.userId })
    this.#log.info({ spaceId: member.spaceId, userId: member.userId }, `👻 [SPACE LEAVE] ${member.username} dropped from space ${member.spaceId}; kept as a ghost at (${member.x}, ${member.y})`)
  }

  /** A deliberate leave: gone from memory and from the store. */
  leave (member: Member, peer: Peer): void {
    if (!this.#release(member, peer)) return
    this.counters.leaves++
    this.#presence.remove(member.spaceId, member.userId)
    void this.#presence.flushSoon()
    this.#broadcast(this.#rooms.get(member.spaceId), { kind: 'left', userId: member.userId, wasConnected: true })
    this.#log.info({ spaceId: member.spaceId, userId: member.userId }, `🚪 [SPACE LEAVE] ${member.username} left space ${member.spaceId}`)
  }

  /**
   * Deletes a space: its definition, its users in the store, and its connections here, which are
   * closed with 4004. False when there was no such space.
   */
  async deleteSpace (spaceId: string): Promise<boolean> {
    const existed = await this.#spaces.remove(spaceId)
    const room = this.#rooms.get(spaceId)
    this.#rooms.delete(spaceId)
    for (const member of room?.values() ?? []) {
      member.peer.end({ code: ErrorCode.UnknownSpace, message: `space ${spaceId} was deleted`, close: CloseCode.UnknownSpace })
    }
    await this.#presence.removeSpace(spaceId).catch((err: unknown) => {
      this.#log.warn({ err, spaceId }, `Could not remove the users of deleted space ${spaceId} from Redis`)
    })
    return existed || room !== undefined
  }

  /**
   * Tells this server's users of what the stale sweep removed from Redis. A user connected here
   * cannot really be stale (the sweep saw an entry our refresh had not reached): it is written back.
   */
  applySwept (swept: SweptUser[]): void {
    for (const { spaceId, userId, wasConnected } of swept) {
      this.counters.staleSwept++
      const room = this.#rooms.get(spaceId)
      const member = room?.get(userId)
      if (member !== undefined) {
        this.#presence.save(spaceId, member)
        continue
      }
      this.#broadcast(room, { kind: 'left', userId, wasConnected })
    }
    void this.#presence.flushSoon()
  }

  /** Rewrites every connected user's state, refreshing `lastUpdated`. */
  refreshAll (): void {
    const now = Date.now()
    for (const room of this.#rooms.values()) {
      for (const member of room.values()) {
        member.lastUpdated = now
        this.#presence.save(member.spaceId, member)
      }
    }
  }

  /** Re-queues every connected user, for a Redis that came back (perhaps empty). */
  persistAll (): Promise<boolean> {
    for (const room of this.#rooms.values()) for (const member of room.values()) this.#presence.save(member.spaceId, member)
    return this.#presence.flushSoon()
  }

  /**
   * Shutting down: every user here becomes a ghost in the store, to resume on reconnect. Peers here
   * are closing too, so nobody is told; the connections are closed by the caller.
   */
  shutdown (): void {
    clearInterval(this.#refreshTimer)
    const now = Date.now()
    for (const room of this.#rooms.values()) {
      for (const member of room.values()) {
        member.connected = false
        member.lastUpdated = now
        this.#presence.save(member.spaceId, member)
      }
    }
    this.#rooms.clear()
  }

  /** The design's getStats(): this server's connected users, by space. */
  stats (): Stats {
    const spacesWithUsers = [...this.#rooms].map(([spaceId, room]) => ({ spaceId, userCount: room.size }))
    return {
      totalSpaces: spacesWithUsers.length,
      totalUsers: spacesWithUsers.reduce((sum, s) => sum + s.userCount, 0),
      spacesWithUsers
    }
  }

  /** What Redis knows across every server; rejects when Redis does not answer. */
  census (): Promise<Census> {
    return this.#presence.census()
  }

  async close (): Promise<void> {
    clearInterval(this.#refreshTimer)
    await this.#presence.close()
  }

  /** Removes the member from memory if `peer` still holds it (not after a take-over or eviction). */
  #release (member: Member, peer: Peer): boolean {
    const room = this.#rooms.get(member.spaceId)
    if (room === undefined || room.get(member.userId) !== member || member.peer !== peer) return false
    room.delete(member.userId)
    if (room.size === 0) this.#rooms.delete(member.spaceId)
    return true
  }

  #room (spaceId: string): Map<string, Member> {
    let room = this.#rooms.get(spaceId)
    if (room === undefined) {
      room = new Map()
      this.#rooms.set(spaceId, room)
    }
    return room
  }

  /** Memory merged over the store, one entry per userId, memory winning, the joiner left out. */
  #snapshot (room: Map<string, Member>, stored: StoredUser[], joinerId: string): UserView[] {
    const users: UserView[] = []
    for (const m of room.values()) {
      if (m.userId !== joinerId) users.push({ userId: m.userId, username: m.username, x: m.x, y: m.y, connected: true })
    }
    for (const u of stored) {
      if (u.userId !== joinerId && !room.has(u.userId)) {
        users.push({ userId: u.userId, username: u.username, x: u.x, y: u.y, connected: u.connected })
      }
    }
    return users
  }

  #occupied (space: Space, room: Map<string, Member>, stored: StoredUser[]): Set<number> {
    const tiles = new Set<number>()
    for (const u of [...room.values(), ...stored]) if (space.inBounds(u.x, u.y)) tiles.add(u.y * space.width + u.x)
    return tiles
  }

  /** Sends one event to everyone in the room but `except`, encoding it once per dialect. */
  #broadcast (room: Map<string, Member> | undefined, event: RoomEvent, except?: Member): void {
    if (room === undefined || room.size === 0) return
    const broadcast = new Broadcast(event)
    for (const member of room.values()) {
      if (member === except) continue
      const frame = broadcast.frameFor(member.peer.dialect)
      if (frame !== undefined) member.peer.send(frame)
    }
  }
}
