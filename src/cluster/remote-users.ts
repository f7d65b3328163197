import type { ActiveUser, RoomEvent } from '../events.js'
import { getOrCreate } from '../util/maps.js'
import type { BusEvent } from './cluster-bus.js'

/** A user connected to another server, in a space this server has users in. */
export interface RemoteUser extends ActiveUser {
  serverId: string
}

/** What the mirror needs of this server's own rooms to apply another server's events. */
export interface LocalRooms {
  /** Whether the user is connected to this server in the space (then memory knows better). */
  isHere: (spaceId: string, userId: string) => boolean
  /** Tells this server's users of the space. */
  broadcast: (spaceId: string, event: RoomEvent) => void
  /** Server `by` took the user's avatar over (perhaps under a new name). */
  handOver: (spaceId: string, userId: string, by: string, username: string | undefined) => void
  /** Answers a server that said hello with this server's users of the space. */
  sendRoster: (spaceId: string) => void
}

/**
 * The users of other servers, by space, as their events on the bus tell (kept only while this
 * server has users in the space): a joiner's snapshot and spawn include them without reading Redis.
 */
export class RemoteUsers {
  readonly #bySpace = new Map<string, Map<string, RemoteUser>>()

  /** The space's remote users (created empty on first use). */
  of (spaceId: string): Map<string, RemoteUser> {
    return getOrCreate(this.#bySpace, spaceId, () => new Map())
  }

  /** The spaces followed: those this server has had users in since it last left them. */
  spaceIds (): string[] {
    return [...this.#bySpace.keys()]
  }

  delete (spaceId: string, userId: string): void {
    this.#bySpace.get(spaceId)?.delete(userId)
  }

  /** The user was active at `at` (their chat came through): a joiner's snapshot shows it. */
  touch (spaceId: string, userId: string, at: number): void {
    const user = this.#bySpace.get(spaceId)?.get(userId)
    if (user !== undefined && at > user.lastActive) user.lastActive = at
  }

  /** This server left the space: nobody there is followed any more. */
  forgetSpace (spaceId: string): void {
    this.#bySpace.delete(spaceId)
  }

  /** Applies another server's events in a space, telling this server's users what is news to them. */
  apply (spaceId: string, from: string, events: BusEvent[], local: LocalRooms): void {
    const remote = this.of(spaceId)
    for (const event of events) {
      switch (event.kind) {
        case 'joined': {
          if (local.isHere(spaceId, event.userId)) break
          const known = remote.get(event.userId)
          // Joining is activity.
          remote.set(event.userId, { userId: event.userId, username: event.username, x: event.x, y: event.y, lastActive: Date.now(), idle: false, serverId: from })
          // Announced again (its server wrote it back after an outage) where it stood: nothing new.
          if (known?.x !== event.x || known.y !== event.y || known.username !== event.username) local.broadcast(spaceId, event)
          break
        }
        case 'moved': {
          if (local.isHere(spaceId, event.userId)) break
          const user = remote.get(event.userId)
          if (user !== undefined) {
            user.x = event.x
            user.y = event.y
            // A move is activity; its server told of an end of idleness before it.
            user.lastActive = Date.now()
            user.idle = false
          } else {
            remote.set(event.userId, { userId: event.userId, username: event.userId, x: event.x, y: event.y, lastActive: Date.now(), idle: false, serverId: from })
          }
          local.broadcast(spaceId, event)
          break
        }
        case 'idle': {
          if (local.isHere(spaceId, event.userId)) break
          const user = remote.get(event.userId)
          if (user !== undefined) {
            user.idle = event.idle
            user.lastActive = event.lastActive
          }
          local.broadcast(spaceId, event)
          break
        }
        case 'active': {
          const user = remote.get(event.userId)
          if (user !== undefined && !local.isHere(spaceId, event.userId)) user.lastActive = event.lastActive
          break
        }
        case 'dropped':
        case 'left':
          remote.delete(event.userId)
          if (!local.isHere(spaceId, event.userId)) local.broadcast(spaceId, event)
          break
        case 'takeover':
          local.handOver(spaceId, event.userId, event.by, event.username)
          break
        case 'hello':
          local.sendRoster(spaceId)
          break
        case 'roster':
          this.#applyRoster(spaceId, from, event.users, local)
          break
        case 'bye':
          break
      }
    }
  }

  /** A server's users of the space: new ones announced, moved ones corrected, unlisted ones gone. */
  #applyRoster (spaceId: string, from: string, users: ActiveUser[], local: LocalRooms): void {
    const remote = this.of(spaceId)
    for (const user of users) {
      if (local.isHere(spaceId, user.userId)) continue
      const { userId, username, x, y } = user
      const known = remote.get(userId)
      const idle = user.idle === true
      remote.set(userId, { userId, username, x, y, lastActive: typeof user.lastActive === 'number' ? user.lastActive : Date.now(), idle, serverId: from })
      if (known === undefined) {
        local.broadcast(spaceId, { kind: 'joined', userId, username, x, y })
        if (idle) local.broadcast(spaceId, { kind: 'idle', userId, idle, lastActive: user.lastActive })
        continue
      }
      if (known.idle !== idle && !idle) local.broadcast(spaceId, { kind: 'idle', userId, idle, lastActive: user.lastActive })
      if (known.x !== x || known.y !== y) local.broadcast(spaceId, { kind: 'moved', userId, x, y })
      if (known.idle !== idle && idle) local.broadcast(spaceId, { kind: 'idle', userId, idle, lastActive: user.lastActive })
    }
    // Whoever that server held and no longer lists went away while we could not hear it.
    const listed = new Set(users.map((u) => u.userId))
    for (const user of [...remote.values()]) {
      if (user.serverId !== from || listed.has(user.userId)) continue
      remote.delete(user.userId)
      local.broadcast(spaceId, { kind: 'dropped', userId: user.userId })
    }
  }
}
