import type { ClusterLink } from '../cluster/cluster-link.js'
import { LOCAL_ONLY } from '../cluster/cluster-link.js'
import type { BusEvent } from '../cluster/cluster-bus.js'
import type { Reaped } from '../cluster/server-liveness.js'
import { type LocalRooms, RemoteUsers } from '../cluster/remote-users.js'
import type { ChatLink } from '../chat/chat-link.js'
import { LocalChat } from '../chat/local-chat.js'
import { Counters } from '../counters.js'
import { Broadcast } from '../dialects/index.js'
import type { ActiveUser, RoomEvent } from '../events.js'
import type { Identity } from '../identity.js'
import { isDebugEnabled, type Logger } from '../logger.js'
import type { SweptUser } from '../presence/stale-sweeper.js'
import type { PresenceStore, StoredUser } from '../presence/store.js'
import { CloseCode, ErrorCode, RejectReason } from '../protocol.js'
import type { Space } from '../spaces/space.js'
import type { SpaceRegistry } from '../spaces/space-registry.js'
import { getOrCreate } from '../util/maps.js'
import { RefCount } from '../util/ref-count.js'
import { Member, type Peer } from './member.js'
import { occupied, snapshot } from './snapshot.js'

/** Where the room manager finds a space: the cache for a move, the cache or Redis for a join. */
export type SpaceLookup = Pick<SpaceRegistry, 'get' | 'lookup'>

/** What the room manager tells the space analytics (PROTOCOL §11); none of it may wait on Redis. */
export interface SessionEvents {
  /** A user entered the space fresh: a visit, and a session begins. */
  sessionStarted: (spaceId: string, userId: string, at: number) => void
  /** A user came back to (or took over) a session still under way. */
  sessionResumed: (spaceId: string, userId: string, at: number) => void
  sessionEnded: (spaceId: string, startedAt: number, endedAt: number) => void
  chatCounted: (spaceId: string, at: number) => void
  /** Users were admitted to the space (its peak may have grown). */
  occupancyChanged: (spaceId: string) => void
}

const NO_ANALYTICS: SessionEvents = {
  sessionStarted: () => {},
  sessionResumed: () => {},
  sessionEnded: () => {},
  chatCounted: () => {},
  occupancyChanged: () => {}
}

export interface RoomManagerOptions {
  spaces: SpaceLookup
  presence: PresenceStore
  cluster?: ClusterLink
  /** The spaces' chat (LocalChat, this process's memory, unless given). */
  chat?: ChatLink
  analytics?: SessionEvents
  serverId: string
  log: Logger
  maxStep: number
  maxMovesPerS: number
  /** Connected users' `lastUpdated` is rewritten this often, so that they never look stale. */
  refreshIntervalMs: number
  /** How many spaces one user may be in at once on this server. */
  maxSpacesPerUser?: number
  /** IDLE_AFTER_MS: a user without activity this long is idle (60 s unless given). */
  idleAfterMs?: number
  counters?: Counters
  random?: () => number
}

export type JoinOutcome = Member | 'unknown-space' | 'gone' | 'too-many-spaces'

export interface Stats {
  totalSpaces: number
  totalUsers: number
  spacesWithUsers: Array<{ spaceId: string, userCount: number }>
}

/** How often an `active` message alone is told to other servers (for their joiners' snapshots). */
const ACTIVE_NOTICE_MS = 5000

const REPLACED = { code: ErrorCode.Replaced, message: 'replaced by a newer connection of the same user', close: CloseCode.Replaced }

/**
 * Who is where. Memory is authoritative for this server's connections and every move is judged
 * and broadcast from it; the presence store is told afterwards and never awaited on a move. Users
 * of other servers are known from their events (RemoteUsers) while this server has users in their
 * space. Each lifecycle change is synchronous once its inputs are read, so none interleave.
 */
export class RoomManager {
  readonly #rooms = new Map<string, Map<string, Member>>()
  /** Rooms per user here: the MAX_SPACES_PER_USER check without a pass over every room. */
  readonly #spacesPerUser = new RefCount<string>()
  readonly #remote = new RemoteUsers()
  /** Joins under way per space: a space's channel is kept while one is. */
  readonly #joining = new RefCount<string>()
  readonly #spaces: SpaceLookup
  readonly #presence: PresenceStore
  readonly #cluster: ClusterLink
  readonly #chat: ChatLink
  readonly #analytics: SessionEvents
  readonly #serverId: string
  readonly #log: Logger
  readonly #maxStep: number
  readonly #maxMovesPerS: number
  readonly #random: () => number
  readonly #maxSpacesPerUser: number
  readonly #refreshTimer: NodeJS.Timeout
  readonly #idleAfterMs: number
  /** One pass over every member finds who went idle: no timer per user. */
  readonly #idleTimer: NodeJS.Timeout
  /** The UTC day of the last idle pass (days since the epoch). */
  #day = Math.floor(Date.now() / 86_400_000)
  /** What the bus's events of other servers need of the rooms here. */
  readonly #local: LocalRooms = {
    isHere: (spaceId, userId) => this.#rooms.get(spaceId)?.has(userId) === true,
    broadcast: (spaceId, event) => this.#broadcast(this.#rooms.get(spaceId), event),
    handOver: (spaceId, userId, by, username) => this.#handOver(spaceId, userId, by, username),
    sendRoster: (spaceId) => this.#cluster.publish(spaceId, { kind: 'roster', users: this.#roster(spaceId) })
  }

  readonly counters: Counters

  constructor (options: RoomManagerOptions) {
    this.#spaces = options.spaces
    this.#presence = options.presence
    this.#cluster = options.cluster ?? LOCAL_ONLY
    this.#chat = options.chat ?? new LocalChat()
    this.#chat.onDeliver((spaceId, message) => {
      // A chat is its sender's activity: another server's user is known active from it.
      this.#remote.touch(spaceId, message.userId, message.sentAt)
      this.#broadcast(this.#rooms.get(spaceId), { kind: 'chat', message })
    })
    this.#analytics = options.analytics ?? NO_ANALYTICS
    this.#serverId = options.serverId
    this.#log = options.log
    this.#maxStep = options.maxStep
    this.#maxMovesPerS = options.maxMovesPerS
    this.#random = options.random ?? Math.random
    this.#maxSpacesPerUser = options.maxSpacesPerUser ?? Number.POSITIVE_INFINITY
    this.counters = options.counters ?? new Counters()
    this.#refreshTimer = setInterval(() => this.refreshAll(), options.refreshIntervalMs).unref()
    this.#idleAfterMs = options.idleAfterMs ?? 60_000
    // PROTOCOL §10 allows about a second either way; a short threshold is looked at more often.
    const idleCheckMs = Math.min(1000, Math.max(50, Math.floor(this.#idleAfterMs / 5)))
    this.#idleTimer = setInterval(() => this.markIdle(), idleCheckMs).unref()
  }

  /**
   * Puts a verified user into a space: a take-over when the user is connected already (here or on
   * another server), a resume when the store still has them (a ghost), a fresh spawn otherwise. The
   * peer is sent its `welcome`; everyone else is told unless it was a take-over.
   */
  async join (peer: Peer, identity: Identity, spaceId: string): Promise<JoinOutcome> {
    this.#joining.add(spaceId)
    try {
      // Subscribed before reading the store, so that no event falls between the two; the space is
      // read meanwhile. Each step is bounded by the Redis timeouts: one for this one, two for the
      // claim (which may wait for the call of the joins before it).
      // The chat held for joiners is read once subscribed, so that no message falls between the two.
      const entering = this.#cluster.enter(spaceId)
      const chatLoaded = entering.then(() => this.#chat.load(spaceId))
      const [resolved] = await Promise.all([this.#spaces.lookup(spaceId), entering])
      if (resolved === undefined) return 'unknown-space'
      const here = this.#isHere(spaceId, identity.userId)
      if (!here && this.#spacesPerUser.count(identity.userId) >= this.#maxSpacesPerUser) return 'too-many-spaces'
      // The avatar is ours from here; if another server held it, it hands over when told.
      const [{ users: stored, fromStore, previousOwner }] = await Promise.all([this.#presence.claimAndRead(spaceId, identity.userId, !here), chatLoaded])
      // Everything below is synchronous: it sees one consistent room.
      const space = this.#spaces.get(spaceId)
      if (space === undefined) return 'unknown-space'
      if (!peer.isOpen) return 'gone'
      if (!this.#isHere(spaceId, identity.userId) && this.#spacesPerUser.count(identity.userId) >= this.#maxSpacesPerUser) return 'too-many-spaces'
      return this.#admit(peer, identity, space, stored, fromStore, previousOwner)
    } finally {
      this.#joining.remove(spaceId)
      this.#exitIfEmpty(spaceId)
    }
  }

  #admit (peer: Peer, identity: Identity, space: Space, stored: StoredUser[], fromStore: boolean, previousOwner: string | undefined): Member {
    const spaceId = space.id
    const room = this.#room(spaceId)
    const remote = this.#remote.of(spaceId)
    const now = Date.now()
    // Entries other servers hold connected, which this server has not heard of yet.
    for (const u of stored) {
      if (u.connected && u.serverId !== undefined && u.serverId !== this.#serverId && !room.has(u.userId) && !remote.has(u.userId)) {
        const { userId, username, x, y, lastActive } = u
        remote.set(userId, { userId, username, x, y, lastActive, idle: lastActive <= now - this.#idleAfterMs, serverId: u.serverId })
      }
    }
    const existing = room.get(identity.userId)
    const elsewhere = remote.get(identity.userId)
    let member: Member
    let resumed: boolean
    let announce = true
    let fresh = false
    if (existing !== undefined) {
      const replaced = existing.peer
      existing.peer = peer
      existing.connectionId = peer.connectionId
      existing.username = identity.username
      replaced.end(REPLACED)
      this.#activity(existing, now)
      // The other servers learn the new name (a take-over is otherwise silent).
      this.#cluster.publish(spaceId, { kind: 'takeover', userId: existing.userId, by: this.#serverId, username: existing.username })
      member = existing
      resumed = true
      announce = false
      this.counters.joins.takeover++
      this.#log.info({ spaceId, userId: identity.userId }, `🔁 [SPACE JOIN] ${identity.username} took over their avatar in space ${spaceId} from an older connection`)
    } else if (elsewhere !== undefined) {
      // Connected to another server: the avatar moves here where it stands, and that server lets go.
      remote.delete(identity.userId)
      const entry = stored.find((u) => u.userId === identity.userId)
      member = this.#seat(room, spaceId, identity, elsewhere.x, elsewhere.y, peer, entry?.sessionStart ?? now)
      resumed = true
      announce = false
      this.counters.joins.takeover++
      this.#cluster.publish(spaceId, { kind: 'takeover', userId: member.userId, by: this.#serverId, username: member.username })
      // Silent otherwise: peers that saw the user idle are told they are back.
      if (elsewhere.idle) this.#tell(spaceId, { kind: 'idle', userId: member.userId, idle: false, lastActive: member.lastActive }, false, member)
      this.#log.info({ spaceId, userId: identity.userId, from: elsewhere.serverId }, `🔁 [SPACE JOIN] ${identity.username} took over their avatar in space ${spaceId} from server ${elsewhere.serverId}`)
    } else {
      const previous = stored.find((u) => u.userId === identity.userId)
      resumed = previous !== undefined && space.isWalkable(previous.x, previous.y)
      const spawn = resumed && previous !== undefined ? previous : space.pickSpawn(occupied(space, [room.values(), remote.values(), stored]), this.#random)
      // A ghost coming back continues its session (even where it must stand elsewhere now).
      member = this.#seat(room, spaceId, identity, spawn.x, spawn.y, peer, previous?.sessionStart ?? now)
      this.counters.joins[resumed ? 'resume' : 'new']++
      fresh = previous === undefined
      // Peers may know the ghost as idle: its return is activity, told before its join.
      if (previous !== undefined && previous.lastActive <= now - this.#idleAfterMs) {
        this.#tell(spaceId, { kind: 'idle', userId: member.userId, idle: false, lastActive: member.lastActive }, false, member)
      }
      if (previousOwner !== undefined && previousOwner !== this.#serverId) {
        // Another server claimed the avatar just before us (a join there is still on its way to us):
        // it hands over, and everyone is told where the avatar stands now.
        this.#cluster.publish(spaceId, { kind: 'takeover', userId: member.userId, by: this.#serverId })
      }
    }

    if (fresh) this.#analytics.sessionStarted(spaceId, member.userId, now)
    else this.#analytics.sessionResumed(spaceId, member.userId, now)
    this.#analytics.occupancyChanged(spaceId)
    const users = snapshot(room, remote, stored, member.userId, now - this.#idleAfterMs)
    peer.tell({ kind: 'welcome', userId: member.userId, spawn: { x: member.x, y: member.y }, users, resumed, space: space.definition, chat: this.#chat.recent(spaceId) })
    if (announce) {
      const joined = { kind: 'joined', userId: member.userId, username: member.username, x: member.x, y: member.y } as const
      this.#broadcast(room, joined, member)
      this.#cluster.publish(spaceId, joined)
    }
    const fromMemory = room.size - 1 + remote.size
    const fromRedis = fromStore ? stored.length : 0
    this.#log.info({ spaceId, userId: member.userId, count: users.length, fromMemory, fromRedis },
      `📊 [SPACE JOIN] Sending ${users.length} users to ${member.username}: ${fromMemory} from memory, ${fromRedis} from Redis`)

    const saving = this.#presence.saveJoin(spaceId, member)
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
    const withinRate = member.moves.admit(now)
    const reason = space.judgeStep(member.x, member.y, x, y, this.#maxStep) ?? (withinRate ? undefined : RejectReason.RateLimited)
    if (reason !== undefined) {
      this.counters.moves[reason]++
      member.peer.tell({ kind: 'move-rejected', x: member.x, y: member.y, reason })
      return
    }
    this.counters.moves.accepted++
    this.#activity(member, now)
    member.x = x
    member.y = y
    member.lastUpdated = now
    const event = { kind: 'moved', userId: member.userId, x, y } as const
    this.#broadcast(this.#rooms.get(member.spaceId), event, member)
    this.#cluster.publish(member.spaceId, event)
    this.#presence.save(member.spaceId, member)
  }

  /**
   * A chat message (its text cleaned and within the limits already): the sender is active, and the
   * message goes to everyone in the space, the sender included, through the chat's one order.
   */
  chat (member: Member, text: string): void {
    if (!member.peer.isOpen) return
    this.counters.chats.accepted++
    const now = Date.now()
    this.#activity(member, now)
    // lastActive reaches Redis with the next periodic write, as a move's position does.
    this.#presence.save(member.spaceId, member)
    this.#analytics.chatCounted(member.spaceId, now)
    this.#chat.send(member.spaceId, { userId: member.userId, username: member.username, text, sentAt: now })
  }

  /**
   * A page of older messages for the asker (that connection, even if a newer one has taken the
   * avatar over meanwhile); 'unknown' when `before` names no message of the space.
   */
  async chatHistory (member: Member, asker: Peer, before: string | undefined, limit: number): Promise<'sent' | 'unknown'> {
    const page = await this.#chat.page(member.spaceId, before, limit)
    if (page === undefined) return 'unknown'
    if (asker.isOpen) asker.tell({ kind: 'chat-history', messages: page.messages, more: page.more })
    return 'sent'
  }

  /** An `active` message: the user is at the keyboard without moving or chatting. */
  active (member: Member): void {
    const now = Date.now()
    this.#activity(member, now)
    this.#presence.save(member.spaceId, member)
    // Other servers' joiners see a recent lastActive; a notice every few seconds is enough for that.
    if (now - member.activeNoticeAt >= ACTIVE_NOTICE_MS) {
      member.activeNoticeAt = now
      this.#cluster.publish(member.spaceId, { kind: 'active', userId: member.userId, lastActive: now })
    }
  }

  /** Activity: an idle user is active again, and their peers hear it before the activity's own event. */
  #activity (member: Member, now: number): void {
    member.lastActive = now
    if (!member.idle) return
    member.idle = false
    this.#tell(member.spaceId, { kind: 'idle', userId: member.userId, idle: false, lastActive: now }, false, member)
  }

  /** The idle pass: users without activity for IDLE_AFTER_MS become idle, told once to their peers. */
  markIdle (now = Date.now()): void {
    // A new UTC day: whoever is here counts toward its peak from its first moment.
    const day = Math.floor(now / 86_400_000)
    if (day !== this.#day) {
      this.#day = day
      for (const spaceId of this.#rooms.keys()) this.#analytics.occupancyChanged(spaceId)
    }
    const cutoff = now - this.#idleAfterMs
    for (const member of this.#members()) {
      if (member.idle || member.lastActive > cutoff) continue
      member.idle = true
      this.#tell(member.spaceId, { kind: 'idle', userId: member.userId, idle: true, lastActive: member.lastActive }, false, member)
    }
  }

  /** The connection is gone but the user may come back: they stay in the store as a ghost. */
  drop (member: Member, peer: Peer): void {
    if (!this.#unseat(member, peer)) return
    member.connected = false
    member.lastUpdated = Date.now()
    this.counters.drops++
    void this.#presence.saveNow(member.spaceId, member)
    this.#tell(member.spaceId, { kind: 'dropped', userId: member.userId })
    this.#exitIfEmpty(member.spaceId)
    this.#log.info({ spaceId: member.spaceId, userId: member.userId }, `👻 [SPACE LEAVE] ${member.username} dropped from space ${member.spaceId}; kept as a ghost at (${member.x}, ${member.y})`)
  }

  /** A deliberate leave: gone from memory and from the store. */
  leave (member: Member, peer: Peer): void {
    if (!this.#unseat(member, peer)) return
    this.counters.leaves++
    this.#analytics.sessionEnded(member.spaceId, member.sessionStart, Date.now())
    void this.#presence.remove(member.spaceId, member.userId)
    this.#tell(member.spaceId, { kind: 'left', userId: member.userId, wasConnected: true })
    this.#exitIfEmpty(member.spaceId)
    this.#log.info({ spaceId: member.spaceId, userId: member.userId }, `🚪 [SPACE LEAVE] ${member.username} left space ${member.spaceId}`)
  }

  /** Closes this server's connections to a space (deleted) with 4004, ending their sessions; true when there were any. */
  evict (spaceId: string): boolean {
    const room = this.#rooms.get(spaceId)
    this.#rooms.delete(spaceId)
    const now = Date.now()
    for (const member of room?.values() ?? []) {
      this.#spacesPerUser.remove(member.userId)
      this.#analytics.sessionEnded(spaceId, member.sessionStart, now)
      member.peer.end({ code: ErrorCode.UnknownSpace, message: `space ${spaceId} was deleted`, close: CloseCode.UnknownSpace })
    }
    this.#exitIfEmpty(spaceId)
    return room !== undefined
  }

  /** Events of another server in a space this server has users in. */
  onSpaceEvents (spaceId: string, from: string, events: BusEvent[]): void {
    this.#remote.apply(spaceId, from, events, this.#local)
  }

  /**
   * Tells everyone of what the stale sweep removed from Redis. A user connected here cannot really
   * be stale (the sweep saw an entry our refresh had not reached): it is written back.
   */
  applySwept (swept: SweptUser[]): void {
    const now = Date.now()
    for (const { spaceId, userId, wasConnected, sessionStart } of swept) {
      this.counters.staleSwept++
      const member = this.#rooms.get(spaceId)?.get(userId)
      if (member !== undefined) {
        void this.#presence.saveNow(spaceId, member)
        continue
      }
      // A deleted space's sessions ended with it (an entry written back by a late flush is not a session).
      if (sessionStart !== undefined && this.#spaces.get(spaceId) !== undefined) this.#analytics.sessionEnded(spaceId, sessionStart, now)
      this.#remote.delete(spaceId, userId)
      // This server may not be in the space: the others are told whatever it knows of listeners.
      this.#tell(spaceId, { kind: 'left', userId, wasConnected }, true)
    }
  }

  /** Tells everyone of users whose server died, now ghosts in Redis (see ServerLiveness). */
  applyDeadServerUsers (users: Reaped[]): void {
    for (const serverId of new Set(users.map((u) => u.serverId))) this.#cluster.forgetServer(serverId)
    for (const { spaceId, userId } of users) {
      if (this.#isHere(spaceId, userId)) continue
      this.#remote.delete(spaceId, userId)
      this.#tell(spaceId, { kind: 'dropped', userId }, true)
    }
  }

  /** Rewrites every connected user's state, refreshing `lastUpdated`. */
  refreshAll (): void {
    const now = Date.now()
    for (const member of this.#members()) {
      member.lastUpdated = now
      this.#presence.save(member.spaceId, member)
    }
  }

  /**
   * This server had been given up for dead: its users were made ghosts in Redis and the others
   * were told. Writes them back and announces them again.
   */
  reclaim (): void {
    this.#presence.reclaim()
    for (const member of this.#members()) {
      void this.#presence.saveNow(member.spaceId, member)
      this.#cluster.publish(member.spaceId, { kind: 'joined', userId: member.userId, username: member.username, x: member.x, y: member.y }, true)
    }
  }

  /** Writes every connected user again, and whatever waited, for a Redis that came back (perhaps empty). */
  persistAll (): Promise<boolean> {
    // A Redis that came back (restarted, flushed, or a replica promoted) may lack who owns whom, too.
    this.#presence.reclaim()
    for (const member of this.#members()) void this.#presence.saveNow(member.spaceId, member)
    return this.#presence.flush()
  }

  /**
   * Shutting down: every user here becomes a ghost in the store, to resume on reconnect, and other
   * servers are told of the drop. Peers here are closing too; the connections are closed by the caller.
   */
  shutdown (): void {
    clearInterval(this.#refreshTimer)
    clearInterval(this.#idleTimer)
    const now = Date.now()
    for (const member of this.#members()) {
      member.connected = false
      member.lastUpdated = now
      this.#presence.save(member.spaceId, member)
      this.#cluster.publish(member.spaceId, { kind: 'dropped', userId: member.userId })
    }
    this.#rooms.clear()
    this.#spacesPerUser.clear()
    for (const spaceId of this.#remote.spaceIds()) this.#exitIfEmpty(spaceId)
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

  close (): void {
    clearInterval(this.#refreshTimer)
    clearInterval(this.#idleTimer)
  }

  * #members (): Iterable<Member> {
    for (const room of this.#rooms.values()) yield * room.values()
  }

  #isHere (spaceId: string, userId: string): boolean {
    return this.#rooms.get(spaceId)?.has(userId) === true
  }

  /** Removes the member from memory if `peer` still holds it (not after a take-over or eviction). */
  #unseat (member: Member, peer: Peer): boolean {
    const room = this.#rooms.get(member.spaceId)
    if (room === undefined || room.get(member.userId) !== member || member.peer !== peer) return false
    room.delete(member.userId)
    this.#spacesPerUser.remove(member.userId)
    if (room.size === 0) this.#rooms.delete(member.spaceId)
    return true
  }

  /** Leaves a space's channel once this server has no user there and none joining. */
  #exitIfEmpty (spaceId: string): void {
    if ((this.#rooms.get(spaceId)?.size ?? 0) > 0 || this.#joining.has(spaceId)) return
    this.#rooms.delete(spaceId)
    this.#remote.forgetSpace(spaceId)
    this.#chat.forget(spaceId)
    this.#cluster.exit(spaceId)
  }

  /** Another server took the user's avatar: the connection here closes with 4009 and nobody is told. */
  #handOver (spaceId: string, userId: string, by: string, username: string | undefined): void {
    const room = this.#rooms.get(spaceId)
    const member = room?.get(userId)
    const remote = this.#remote.of(spaceId)
    if (member !== undefined && room !== undefined) {
      room.delete(userId)
      this.#spacesPerUser.remove(userId)
      this.#presence.release(spaceId, userId)
      member.peer.end(REPLACED)
      // Taking over is joining, which is activity.
      remote.set(userId, { userId, username: username ?? member.username, x: member.x, y: member.y, lastActive: Date.now(), idle: false, serverId: by })
      this.#log.info({ spaceId, userId, to: by }, `🔁 [SPACE JOIN] ${member.username} was taken over by server ${by}`)
      this.#exitIfEmpty(spaceId)
      return
    }
    const user = remote.get(userId)
    if (user === undefined) return
    user.serverId = by
    if (username !== undefined) user.username = username
  }

  /** Puts a new member in a room, counting the rooms its user is in. */
  #seat (room: Map<string, Member>, spaceId: string, identity: Identity, x: number, y: number, peer: Peer, sessionStart: number): Member {
    const member = new Member(identity, spaceId, x, y, peer, this.#maxMovesPerS, sessionStart)
    room.set(member.userId, member)
    this.#spacesPerUser.add(member.userId)
    return member
  }

  #roster (spaceId: string): ActiveUser[] {
    return [...(this.#rooms.get(spaceId)?.values() ?? [])].map((m) => ({ userId: m.userId, username: m.username, x: m.x, y: m.y, lastActive: m.lastActive, idle: m.idle }))
  }

  #room (spaceId: string): Map<string, Member> {
    return getOrCreate(this.#rooms, spaceId, () => new Map())
  }

  /** Tells this server's users of the space (but `except`) and the other servers. */
  #tell (spaceId: string, event: RoomEvent, always = false, except?: Member): void {
    this.#broadcast(this.#rooms.get(spaceId), event, except)
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
