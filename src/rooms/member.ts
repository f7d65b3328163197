import type { DirectEvent } from '../events.js'
import type { Identity } from '../identity.js'
import type { PresenceRecord } from '../presence/store.js'
import type { Dialect, ErrorCode } from '../protocol.js'
import { RateWindow } from '../util/rate-window.js'

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

/** A user connected to this server, in one space: the live member, itself the record the store writes. */
export class Member implements PresenceRecord {
  readonly userId: string
  readonly spaceId: string
  username: string
  x: number
  y: number
  peer: Peer
  connectionId: string
  lastUpdated: number
  lastActive: number
  /** Since the user went idle (PROTOCOL §10) and until their next activity. */
  idle = false
  /** When other servers were last told of an `active` message alone. */
  activeNoticeAt = 0
  /** When the session began: now for a fresh entry, the stored one's for a resume or a take-over. */
  sessionStart: number
  connected = true
  /** MAX_MOVES_PER_S. */
  readonly moves: RateWindow

  constructor (identity: Identity, spaceId: string, x: number, y: number, peer: Peer, maxMovesPerS: number, sessionStart: number) {
    this.userId = identity.userId
    this.username = identity.username
    this.spaceId = spaceId
    this.x = x
    this.y = y
    this.peer = peer
    this.connectionId = peer.connectionId
    this.lastUpdated = Date.now()
    // Joining counts as activity.
    this.lastActive = this.lastUpdated
    this.sessionStart = sessionStart
    this.moves = new RateWindow(maxMovesPerS)
  }
}
