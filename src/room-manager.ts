import { Counters } from './counters.js'
import { Broadcast } from './dialects/index.js'
import type { DirectEvent, RoomEvent, UserView } from './events.js'
import type { Identity } from './identity.js'
import { isDebugEnabled, type Logger } from './logger.js'
import { getOrCreate } from './maps.js'
import type { Census, PresenceRecord, PresenceStore, StoredUser } from './presence-store.js'
import { CloseCode, ErrorCode, RejectReason, type Dialect } from './protocol.js'
import type { Space, SpaceDefinition } from './space.js'
import type { SpaceRegistry } from './space-registry.js'
import type { SweptUser } from './stale-sweeper.js'
import type { BusEvent, ControlEvent, RosterEntry } from './cluster-bus.js'

/** A connection as the room manager sees it: where frames go, and how it is ended. */
export interface Peer {
  readonly dialect: Dialect
  readonly connectionId: string
  readonly isOpen: boolean
  /** Sends a frame already encoded for this peer's dialect. */
  send: (frame: string | Buffer) => void
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

/**
 * The other servers, as the room manager needs them: a space's channel entered while this server
 * has users there, events published to it, deployment-wide events. A lone server uses LOCAL_ONLY.
 */
export interface ClusterLink {
  enter: (spaceId: string) => Promise<void>
  exit: (spaceId: string) => void
  publish: (spaceId: string, event: BusEvent, always?: boolean) => void
  publishControl: (event: ControlEvent) => Promise<unknown>
  /** A server died: it listens nowhere any more. */
  forgetServer: (serverId: string) => void
}

export const LOCAL_ONLY: ClusterLink = {
  enter: async () => {},
  exit: () => {},
  publish: () => {},
  publishControl: async () => {},
  forgetServer: () => {}
}

/** A user connected to another server, in a space this server has users in. */
interface RemoteUser extends RosterEntry {
  serverId: string
}

export interface RoomManagerOptions {
  spaces: SpaceRegistry
  presence: PresenceStore & {
    flushSoon: () => Promise<boolean>
    flushShortly: () => Promise<boolean>
    release: (spaceId: string, userId: string) => void
    reclaim: () => void
    save: (spaceId: string, record: PresenceRecord, urgent?: boolean) => void
  }
  cluster?: ClusterLink
  serverId: string
  log: Logger
  maxStep: number
  maxMovesPerS: number
  /** Connected users' `lastUpdated` is rewritten this often, so that they never look stale. */
  refreshIntervalMs: number
  /** How many spaces one user may be in at once on this server. */
  maxSpacesPerUser?: number
  counters?: Counters
  random?: () => number
}

export type JoinOutcome = Member | 'unknown-space' | 'gone' | 'too-many-spaces'

export interface Stats {
  totalSpaces: number
  totalUsers: number
  spacesWithUsers: Array<{ spaceId: string, userCount: number }>
}

/**
 * Who is where. Memory is authoritative for this server's connections and every move is judged
 * and broadcast from it; the presence store is told afterwards and never awaited on a move. Users
 * of other servers are known from their events (the cluster link) while this server has users in
 * their space. Each lifecycle change is synchronous once its inputs are read, so none interleave.
 */
export class RoomManager {
  readonly #rooms = new Map<string, Map<string, Member>>()
  /** How many rooms each user is in here: the MAX_SPACES_PER_USER check without a pass over every room. */
  readonly #spacesPerUser = new Map<string, number>()
  readonly #remote = new Map<string, Map<string, RemoteUser>>()
  /** Joins under way per space: a space's channel is kept while one is. */
  readonly #joining = new Map<string, number>()
  readonly #spaces: SpaceRegistry
  readonly #presence: RoomManagerOptions['presence']
  readonly #cluster: ClusterLink
  readonly #serverId: string
  readonly #log: Logger
  readonly #maxStep: number
  readonly #maxMovesPerS: number
  readonly #random: () => number
  readonly #maxSpacesPerUser: number
  readonly #refreshTimer: NodeJS.Timeout
  readonly counters: Counters

  constructor (options: RoomManagerOptions) {
    this.#spaces = options.spaces
    this.#presence = options.presence
    this.#cluster = options.cluster ?? LOCAL_ONLY
    this.#serverId = options.serverId
    this.#log = options.log
    this.#maxStep = options.maxStep
    this.#maxMovesPerS = options.maxMovesPerS
    this.#random = options.random ?? Math.random
    this.#maxSpacesPerUser = options.maxSpacesPerUser ?? Number.POSITIVE_INFINITY
    this.counters = options.counters ?? new Counters()
    this.#refreshTimer = setInterval(() => this.refreshAll(), options.refreshIntervalMs).unref()
  }

  /**
   * Puts a verified user into a space: a take-over when the user is connected already (here or on
   * another server), a resume when the store still has them (a ghost), a fresh spawn otherwise. The
   * peer is sent its `welcome`; everyone else is told unless it was a take-over.
   */
  async join (peer: Peer, identity: Identity, spaceId: string): Promise<JoinOutcome> {
    this.#joining.set(spaceId, (this.#joining.get(spaceId) ?? 0) + 1)
    try {
      // Subscribed before reading the store, so that no event falls between the two; the space is
      // read meanwhile. Each step is bounded by the Redis timeouts: one for this one, two for the
      // claim (which may wait for the call of the joins before it).
      const [resolved] = await Promise.all([this.#spaces.lookup(spaceId), this.#cluster.enter(spaceId)])
      if (resolved === undefined) return 'unknown-space'
      const here = this.#rooms.get(spaceId)?.has(identity.userId) === true
      if (!here && this.#spacesOf(identity.userId) >= this.#maxSpacesPerUser) return 'too-many-spaces'
      // The avatar is ours from here; if another server held it, it hands over when told.
      const { users: stored, fromStore, previousOwner } = await this.#presence.claimAndRead(spaceId, identity.userId, !here)
      // Everything below is synchronous: it sees one consistent room.
      const space = this.#spaces.get(spaceId)
      if (space === undefined) return 'unknown-space'
      if (!peer.isOpen) return 'gone'
      if (!this.#rooms.get(spaceId)?.has(identity.userId) && this.#spacesOf(identity.userId) >= this.#maxSpacesPerUser) return 'too-many-spaces'
      return this.#admit(peer, identity, space, stored, fromStore, previousOwner)
    } finally {
      const joining = (this.#joining.get(spaceId) ?? 1) - 1
      if (joining === 0) this.#joining.delete(spaceId)
      else this.#joining.set(spaceId, joining)
      this.#exitIfEmpty(spaceId)
    }
  }

  #admit (peer: Peer, identity: Identity, space: Space, stored: StoredUser[], fromStore: boolean, previousOwner: string | undefined): Member {
    const spaceId = space.id
    const room = this.#room(spaceId)
    const remote = this.#remoteUsers(spaceId)
    // Entries other servers hold connected, which this server has not heard of yet.
    for (const u of stored) {
      if (u.connected && u.serverId !== undefined && u.serverId !== this.#serverId && !room.has(u.userId) && !remote.has(u.userId)) {
        remote.set(u.userId, { userId: u.userId, username: u.username, x: u.x, y: u.y, serverId: u.serverId })
      }
    }
    const existing = room.get(identity.userId)
    const elsewhere = remote.get(identity.userId)
    let member: Member
    let resumed: boolean
    let announce = true
    if (existing !== undefined) {
      const replaced = existing.peer
      existing.peer = peer
      existing.connectionId = peer.connectionId
      existing.username = identity.username
      replaced.end({ code: ErrorCode.Replaced, message: 'replaced by a newer connection of the same user', close: CloseCode.Replaced })
      member = existing
      resumed = true
      announce = false
      this.counters.joins.takeover++
      this.#log.info({ spaceId, userId: identity.userId }, `🔁 [SPACE JOIN] ${identity.username} took over their avatar in space ${spaceId} from an older connection`)
    } else if (elsewhere !== undefined) {
      // Connected to another server: the avatar moves here where it stands, and that server lets go.
      remote.delete(identity.userId)
      member = new Member(identity, spaceId, elsewhere.x, elsewhere.y, peer)
      this.#seat(room, member)
      resumed = true
      announce = false
      this.counters.joins.takeover++
      this.#cluster.publish(spaceId, { kind: 'takeover', userId: member.userId, by: this.#serverId })
      this.#log.info({ spaceId, userId: identity.userId, from: elsewhere.serverId }, `🔁 [SPACE JOIN] ${identity.username} took over their avatar in space ${spaceId} from server ${elsewhere.serverId}`)
    } else {
      const previous = stored.find((u) => u.userId === identity.userId)
      resumed = previous !== undefined && space.isWalkable(previous.x, previous.y)
      const spawn = resumed && previous !== undefined ? previous : space.pickSpawn(this.#occupied(space, room, remote, stored), this.#random)
      member = new Member(identity, spaceId, spawn.x, spawn.y, peer)
      this.#seat(room, member)
      this.counters.joins[resumed ? 'resume' : 'new']++
      if (previousOwner !== undefined && previousOwner !== this.#serverId) {
        // Another server claimed the avatar just before us (a join there is still on its way to us):
        // it hands over, and everyone is told where the avatar stands now.
        this.#cluster.publish(spaceId, { kind: 'takeover', userId: member.userId, by: this.#serverId })
      }
    }

    const users = this.#snapshot(room, remote, stored, member.userId)
    peer.tell({
      kind: 'welcome',
      userId: member.userId,
      spawn: { x: member.x, y: member.y },
      users,
      resumed,
      space: space.definition
    })
    if (announce) {
      const joined = { kind: 'joined', userId: member.userId, username: member.username, x: member.x, y: member.y } as const
      this.#broadcast(room, joined, member)
      this.#cluster.publish(spaceId, joined)
    }
    const fromMemory = room.size - 1 + remote.size
    this.#log.info({ spaceId, userId: member.userId, count: users.length, fromMemory, fromRedis: fromStore ? stored.length : 0 },
      `📊 [SPACE JOIN] Sending ${users.length} users to ${member.username}: ${fromMemory} from memory, ${fromStore ? stored.length : 0} from Redis`)

    this.#presence.save(spaceId, member, true)
    const saving = this.#presence.flushShortly()
    // Per join, and about Redis rather than the user: debug, and nothing to wait for unless it is on.
    if (isDebugEnabled(this.#log)) {
      void saving.then((saved) => {
        if (saved) {
          this.#log.debug({ spaceId, userId: member.userId, x: member.x, y: member.y },
            `💾 [REDIS SPACE] Saved user ${member.username} in space ${spaceId} at (${member.x}, ${member.y})`)
        }
      })
    }
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
    const event = { kind: 'moved', userId: member.userId, x, y } as const
    this.#broadcast(this.#rooms.get(member.spaceId), event, member)
    this.#cluster.publish(member.spaceId, event)
    this.#presence.save(member.spaceId, member)
  }

  /** The connection is gone but the user may come back: they stay in the store as a ghost. */
  drop (member: Member, peer: Peer): void {
    if (!this.#release(member, peer)) return
    member.connected = false
    member.lastUpdated = Date.now()
    this.counters.drops++
    this.#presence.save(member.spaceId, member, true)
    void this.#presence.flushSoon()
    this.#tell(member.spaceId, { kind: 'dropped', userId: member.userId })
    this.#exitIfEmpty(member.spaceId)
    this.#log.info({ spaceId: member.spaceId, userId: member.userId }, `👻 [SPACE LEAVE] ${member.username} dropped from space ${member.spaceId}; kept as a ghost at (${member.x}, ${member.y})`)
  }

  /** A deliberate leave: gone from memory and from the store. */
  leave (member: Member, peer: Peer): void {
    if (!this.#release(member, peer)) return
    this.counters.leaves++
    this.#presence.remove(member.spaceId, member.userId)
    void this.#presence.flushSoon()
    this.#tell(member.spaceId, { kind: 'left', userId: member.userId, wasConnected: true })
    this.#exitIfEmpty(member.spaceId)
    this.#log.info({ spaceId: member.spaceId, userId: member.userId }, `🚪 [SPACE LEAVE] ${member.username} left space ${member.spaceId}`)
  }

  /** Defines or redefines a space, and tells the other servers to read it again. */
  async defineSpace (definition: SpaceDefinition): Promise<{ created: boolean }> {
    const { created } = await this.#spaces.put(definition)
    await this.#cluster.publishControl({ kind: 'space-changed', spaceId: definition.id }).catch(() => {})
    return { created }
  }

  /**
   * Deletes a space: its definition, its users in the store, and its connections on every server,
   * which are closed with 4004. False when there was no such space.
   */
  async deleteSpace (spaceId: string): Promise<boolean> {
    const existed = await this.#spaces.remove(spaceId)
    const hadUsers = this.#evict(spaceId)
    await this.#presence.removeSpace(spaceId).catch((err: unknown) => {
      this.#log.warn({ err, spaceId }, `Could not remove the users of deleted space ${spaceId} from Redis`)
    })
    await this.#cluster.publishControl({ kind: 'space-deleted', spaceId }).catch(() => {})
    return existed || hadUsers
  }

  /**
   * Writes back the space definitions this server holds (Redis returned, perhaps empty); tells the
   * others when some were defined here while Redis was away.
   */
  async restoreSpaces (): Promise<void> {
    if (await this.#spaces.persistAll()) await this.announceSpaces()
  }

  /** Tells the other servers to read every definition again. */
  async announceSpaces (): Promise<void> {
    await this.#cluster.publishControl({ kind: 'spaces-changed' }).catch(() => {})
  }

  /** Another server changed the deployment: a space was redefined or deleted there. */
  onControl (event: ControlEvent): void {
    if (event.kind === 'spaces-changed') {
      void this.#spaces.loadAll()
      return
    }
    if (event.kind === 'space-changed') {
      void this.#spaces.resolve(event.spaceId)
      return
    }
    this.#spaces.forget(event.spaceId)
    this.#evict(event.spaceId)
  }

  /** Events of another server in a space this server has users in. */
  onSpaceEvents (spaceId: string, from: string, events: BusEvent[]): void {
    const room = this.#rooms.get(spaceId)
    const remote = this.#remoteUsers(spaceId)
    for (const event of events) {
      switch (event.kind) {
        case 'joined': {
          if (room?.has(event.userId)) break
          const known = remote.get(event.userId)
          remote.set(event.userId, { userId: event.userId, username: event.username, x: event.x, y: event.y, serverId: from })
          // Announced again (its server wrote it back after an outage) where it stood: nothing new.
          if (known?.x !== event.x || known.y !== event.y || known.username !== event.username) this.#broadcast(room, event)
          break
        }
        case 'moved': {
          if (room?.has(event.userId)) break
          const user = remote.get(event.userId)
          if (user !== undefined) {
            user.x = event.x
            user.y = event.y
          } else {
            remote.set(event.userId, { userId: event.userId, username: event.userId, x: event.x, y: event.y, serverId: from })
          }
          this.#broadcast(room, event)
          break
        }
        case 'dropped':
        case 'left':
          remote.delete(event.userId)
          if (!room?.has(event.userId)) this.#broadcast(room, event)
          break
        case 'takeover':
          this.#handOver(spaceId, event.userId, event.by)
          break
        case 'hello':
          this.#cluster.publish(spaceId, { kind: 'roster', users: this.#roster(spaceId) })
          break
        case 'roster': {
          for (const user of event.users) this.#learn(spaceId, user, from)
          // Whoever that server held and no longer lists went away while we could not hear it.
          const listed = new Set(event.users.map((u) => u.userId))
          for (const user of [...remote.values()]) {
            if (user.serverId !== from || listed.has(user.userId)) continue
            remote.delete(user.userId)
            this.#broadcast(room, { kind: 'dropped', userId: user.userId })
          }
          break
        }
        case 'bye':
          break
      }
    }
  }

  /**
   * Tells everyone of what the stale sweep removed from Redis. A user connected here cannot really
   * be stale (the sweep saw an entry our refresh had not reached): it is written back.
   */
  applySwept (swept: SweptUser[]): void {
    for (const { spaceId, userId, wasConnected } of swept) {
      this.counters.staleSwept++
      const member = this.#rooms.get(spaceId)?.get(userId)
      if (member !== undefined) {
        this.#presence.save(spaceId, member, true)
        continue
      }
      this.#remote.get(spaceId)?.delete(userId)
      // This server may not be in the space: the others are told whatever it knows of listeners.
      this.#tell(spaceId, { kind: 'left', userId, wasConnected }, true)
    }
    void this.#presence.flushSoon()
  }

  /** Tells everyone of users whose server died, now ghosts in Redis (see ServerLiveness). */
  applyDeadServerUsers (users: Array<{ serverId: string, spaceId: string, userId: string }>): void {
    for (const serverId of new Set(users.map((u) => u.serverId))) this.#cluster.forgetServer(serverId)
    for (const { spaceId, userId } of users) {
      if (this.#rooms.get(spaceId)?.has(userId)) continue
      this.#remote.get(spaceId)?.delete(userId)
      this.#tell(spaceId, { kind: 'dropped', userId }, true)
    }
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

  /**
   * This server had been given up for dead: its users were made ghosts in Redis and the others
   * were told. Writes them back and announces them again.
   */
  reclaim (): void {
    this.#presence.reclaim()
    for (const [spaceId, room] of this.#rooms) {
      for (const member of room.values()) {
        this.#presence.save(spaceId, member, true)
        this.#cluster.publish(spaceId, { kind: 'joined', userId: member.userId, username: member.username, x: member.x, y: member.y }, true)
      }
    }
    void this.#presence.flushSoon()
  }

  /** Re-queues every connected user, for a Redis that came back (perhaps empty). */
  persistAll (): Promise<boolean> {
    for (const room of this.#rooms.values()) for (const member of room.values()) this.#presence.save(member.spaceId, member, true)
    return this.#presence.flushSoon()
  }

  /**
   * Shutting down: every user here becomes a ghost in the store, to resume on reconnect, and other
   * servers are told of the drop. Peers here are closing too; the connections are closed by the caller.
   */
  shutdown (): void {
    clearInterval(this.#refreshTimer)
    const now = Date.now()
    for (const [spaceId, room] of this.#rooms) {
      for (const member of room.values()) {
        member.connected = false
        member.lastUpdated = now
        this.#presence.save(spaceId, member)
        this.#cluster.publish(spaceId, { kind: 'dropped', userId: member.userId })
      }
    }
    this.#rooms.clear()
    this.#spacesPerUser.clear()
    for (const spaceId of [...this.#remote.keys()]) this.#exitIfEmpty(spaceId)
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

  /** What Redis knows across every server, by space; rejects when Redis does not answer. */
  census (): Promise<Census> {
    return this.#presence.census()
  }

  /** Connected users and ghosts across every server, counted in Redis. */
  clusterTotals (): Promise<{ connectedUsers: number, ghostUsers: number }> {
    return this.#presence.totals()
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
    this.#unseat(member.userId)
    if (room.size === 0) this.#rooms.delete(member.spaceId)
    return true
  }

  /** Leaves a space's channel once this server has no user there and none joining. */
  #exitIfEmpty (spaceId: string): void {
    if ((this.#rooms.get(spaceId)?.size ?? 0) > 0 || this.#joining.has(spaceId)) return
    this.#rooms.delete(spaceId)
    this.#remote.delete(spaceId)
    this.#cluster.exit(spaceId)
  }

  /** Closes this server's connections to a deleted space with 4004; true when there were any. */
  #evict (spaceId: string): boolean {
    const room = this.#rooms.get(spaceId)
    this.#rooms.delete(spaceId)
    for (const member of room?.values() ?? []) {
      this.#unseat(member.userId)
      member.peer.end({ code: ErrorCode.UnknownSpace, message: `space ${spaceId} was deleted`, close: CloseCode.UnknownSpace })
    }
    this.#exitIfEmpty(spaceId)
    return room !== undefined
  }

  /** Another server took the user's avatar: the connection here closes with 4009 and nobody is told. */
  #handOver (spaceId: string, userId: string, by: string): void {
    const room = this.#rooms.get(spaceId)
    const member = room?.get(userId)
    const remote = this.#remoteUsers(spaceId)
    if (member !== undefined && room !== undefined) {
      room.delete(userId)
      this.#unseat(userId)
      this.#presence.release(spaceId, userId)
      member.peer.end({ code: ErrorCode.Replaced, message: 'replaced by a newer connection of the same user', close: CloseCode.Replaced })
      remote.set(userId, { userId, username: member.username, x: member.x, y: member.y, serverId: by })
      this.#log.info({ spaceId, userId, to: by }, `🔁 [SPACE JOIN] ${member.username} was taken over by server ${by}`)
      this.#exitIfEmpty(spaceId)
      return
    }
    const user = remote.get(userId)
    if (user !== undefined) user.serverId = by
  }

  /** A user another server holds, from its roster: new ones are announced, moved ones corrected. */
  #learn (spaceId: string, user: RosterEntry, serverId: string): void {
    const room = this.#rooms.get(spaceId)
    if (room?.has(user.userId)) return
    const remote = this.#remoteUsers(spaceId)
    const known = remote.get(user.userId)
    remote.set(user.userId, { ...user, serverId })
    if (known === undefined) this.#broadcast(room, { kind: 'joined', ...user })
    else if (known.x !== user.x || known.y !== user.y) this.#broadcast(room, { kind: 'moved', userId: user.userId, x: user.x, y: user.y })
  }

  #spacesOf (userId: string): number {
    return this.#spacesPerUser.get(userId) ?? 0
  }

  /** Puts a member in a room, counting the rooms its user is in. */
  #seat (room: Map<string, Member>, member: Member): void {
    room.set(member.userId, member)
    this.#spacesPerUser.set(member.userId, this.#spacesOf(member.userId) + 1)
  }

  /** Counts one room less for a user just taken out of one. */
  #unseat (userId: string): void {
    const spaces = this.#spacesOf(userId) - 1
    if (spaces > 0) this.#spacesPerUser.set(userId, spaces)
    else this.#spacesPerUser.delete(userId)
  }

  #roster (spaceId: string): RosterEntry[] {
    return [...(this.#rooms.get(spaceId)?.values() ?? [])].map((m) => ({ userId: m.userId, username: m.username, x: m.x, y: m.y }))
  }

  #room (spaceId: string): Map<string, Member> {
    return getOrCreate(this.#rooms, spaceId, () => new Map())
  }

  #remoteUsers (spaceId: string): Map<string, RemoteUser> {
    return getOrCreate(this.#remote, spaceId, () => new Map())
  }

  /** Memory (this server's and what others told) merged over the store, one entry per userId, the joiner left out. */
  #snapshot (room: Map<string, Member>, remote: Map<string, RemoteUser>, stored: StoredUser[], joinerId: string): UserView[] {
    const users: UserView[] = []
    for (const m of room.values()) {
      if (m.userId !== joinerId) users.push({ userId: m.userId, username: m.username, x: m.x, y: m.y, connected: true })
    }
    for (const r of remote.values()) {
      if (r.userId !== joinerId && !room.has(r.userId)) users.push({ userId: r.userId, username: r.username, x: r.x, y: r.y, connected: true })
    }
    for (const u of stored) {
      if (u.userId !== joinerId && !room.has(u.userId) && !remote.has(u.userId)) {
        users.push({ userId: u.userId, username: u.username, x: u.x, y: u.y, connected: u.connected })
      }
    }
    return users
  }

  #occupied (space: Space, room: Map<string, Member>, remote: Map<string, RemoteUser>, stored: StoredUser[]): Set<number> {
    const tiles = new Set<number>()
    const add = (u: { x: number, y: number }): void => {
      if (space.inBounds(u.x, u.y)) tiles.add(u.y * space.width + u.x)
    }
    for (const u of room.values()) add(u)
    for (const u of remote.values()) add(u)
    for (const u of stored) add(u)
    return tiles
  }

  /** Tells this server's users of the space and the other servers. */
  #tell (spaceId: string, event: RoomEvent, always = false): void {
    this.#broadcast(this.#rooms.get(spaceId), event)
    this.#cluster.publish(spaceId, event, always)
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
