import type { StoreFault } from './faults.js'

/**
 * The presence store's contract: where who-is-where outlives a connection. The room manager talks to
 * this interface only, and never awaits it on the path of a move. Two implementations: Redis (shared
 * by every server of a deployment) and memory (one process, for tests of the room manager).
 */

/** One user's presence in a space, as stored: the design's hash entry (PROTOCOL §6). */
export interface PresenceRecord {
  readonly userId: string
  readonly username: string
  readonly x: number
  readonly y: number
  readonly connectionId: string
  /** ms since epoch of the last move, refresh or drop. */
  readonly lastUpdated: number
  /** ms since epoch of the user's last activity: a move, a chat, an `active`, a join (PROTOCOL §10). */
  readonly lastActive: number
  /** ms since epoch when the user's session in the space began (a resume continues it; PROTOCOL §11). */
  readonly sessionStart: number
  readonly connected: boolean
}

/** A record read back from the store; `serverId` names the server that wrote it. */
export interface StoredUser extends PresenceRecord {
  serverId?: string
}

/** What a join reads from the store. */
export interface JoinRead {
  /** Everyone the store knows in the space, but the users connected to this server (its memory has them). */
  users: StoredUser[]
  /** False when the store did not answer: `users` are this server's unwritten records only. */
  fromStore: boolean
  /** The server that held the avatar before this claim (undefined: none, no claim, or no answer). */
  previousOwner: string | undefined
}

/** Connected users and ghosts across every server. */
export interface PresenceTotals {
  connectedUsers: number
  ghostUsers: number
}

/** What the store knows across every server: users (ghosts counted apart), by space. */
export interface Census extends PresenceTotals {
  totalUsers: number
  spacesWithUsers: Array<{ spaceId: string, userCount: number, ghostCount: number }>
}

/** Keys the store cannot use (see StoreFaults), and how many writes and reads they refused in all. */
export interface StoreFaultReport {
  keys: StoreFault[]
  refused: number
}

export interface PresenceStore {
  /**
   * For a join: claims the user's avatar in the space for this server (unless `claim` is false: it
   * is here already) and reads everyone the store knows there, with what this server has not
   * written yet laid over it.
   */
  claimAndRead: (spaceId: string, userId: string, claim: boolean) => Promise<JoinRead>
  /** A move or a refresh: kept as the user's latest state, written with the next periodic flush. */
  save: (spaceId: string, record: PresenceRecord) => void
  /** A join: written together with the other joins of the moment. Resolves true once written. */
  saveJoin: (spaceId: string, record: PresenceRecord) => Promise<boolean>
  /** A change other servers must see soon (a drop, a write-back): written on the next turn. */
  saveNow: (spaceId: string, record: PresenceRecord) => Promise<boolean>
  /** A deliberate leave: the entry goes, on the next turn. */
  remove: (spaceId: string, userId: string) => Promise<boolean>
  /** Another server took the user over: nothing more is written for them from here. */
  release: (spaceId: string, userId: string) => void
  /** This server had been given up for dead: every user it writes is claimed again. */
  reclaim: () => void
  /** Writes everything queued now; true when all of it reached the store. */
  flush: () => Promise<boolean>
  /** Counts what the store holds, across every server, by space. */
  census: () => Promise<Census>
  /** The same totals without the breakdown by space. */
  totals: () => Promise<PresenceTotals>
  /** Keys that refuse writes whatever the retries (another writer's data there), for health and metrics. */
  faults: () => StoreFaultReport
  /** Forgets a whole space (its definition was deleted); resolves to the entries it removed. */
  removeSpace: (spaceId: string) => Promise<StoredUser[]>
  /** Writes what is queued and stops. */
  close: () => Promise<void>
}
