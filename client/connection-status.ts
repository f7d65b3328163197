/** What a client says about its connection: its status, why it stopped, and how a connection ended. */
import { CloseCode } from './messages.js'

/**
 * - `idle`: not in a space (before the first join, after leave());
 * - `connecting`: the first connection of a join is opening, or its join is pending;
 * - `connected`: in the space (`space-joined` received);
 * - `reconnecting`: the connection was lost; the next attempt is at `retryAt`, or under way;
 * - `offline`: no further attempt will be made on its own (`reason`); reconnectNow() tries again;
 * - `closed`: close() was called.
 */
export type ConnectionStatus = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed'

/**
 * Why the client stopped trying: it gave up after the last attempt, the connection was dropped
 * with reconnection turned off, or the server said that trying again would not help (4001 bad
 * token, 4004 unknown space, 4009 replaced by a newer connection of the same user, 1008/1009
 * protocol violations).
 */
export type OfflineReason = 'gave-up' | 'disconnected' | 'bad-token' | 'unknown-space' | 'replaced' | 'protocol-error'

export interface StatusChange {
  status: ConnectionStatus
  /** `reconnecting`: the attempt under way or next (1-based), out of `maxAttempts`. */
  attempt?: number
  maxAttempts?: number
  /** `reconnecting`: when the next attempt starts (ms since epoch), and how long from now. */
  retryAt?: number
  retryInMs?: number
  /**
   * `reconnecting`: the browser says it has no network; the next attempt is when it is back
   * (no attempt is spent meanwhile).
   */
  waitingForNetwork?: boolean
  /** `offline`: why no attempt follows. */
  reason?: OfflineReason
  /** The close code of the connection that ended, where one did. */
  code?: number
}

export interface CloseInfo {
  code: number
  reason: string
  /** Whether the client will try again on its own. */
  willReconnect: boolean
}

/** Why a join() did not (or no longer can) succeed; `switched`: another join() came after it. */
export class PlazaClientError extends Error {
  constructor (readonly code: OfflineReason | 'closed' | 'left' | 'switched', message: string, readonly closeCode?: number) {
    super(message)
    this.name = 'PlazaClientError'
  }
}

/** Close codes after which trying again would get the same answer, and what the client calls them. */
export const FINAL_CLOSE: ReadonlyMap<number, OfflineReason> = new Map([
  [CloseCode.BadToken, 'bad-token'],
  [CloseCode.UnknownSpace, 'unknown-space'],
  [CloseCode.Replaced, 'replaced'],
  [CloseCode.ProtocolViolation, 'protocol-error'],
  [CloseCode.TooLarge, 'protocol-error']
])
