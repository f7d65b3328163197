/**
 * Plaza's client for the plaza.v1 dialect (shared/PROTOCOL.md), for browsers and for Node with the
 * `ws` package. It joins a space, keeps the people in it up to date, and when the connection drops
 * it reconnects with backoff and joins the same space again, sending what was queued meanwhile.
 * The connection (connection.ts) and the view of the space (space-view.ts) know nothing of each
 * other: this class joins them, and adds the join() promises, the offline queue and the events.
 */
import type { ConnectionOptions } from './connection-options.js'
import { type CloseInfo, PlazaClientError, type StatusChange } from './connection-status.js'
import { SpaceConnection } from './connection.js'
import { Emitter } from './emitter.js'
import { CloseCode, type PeerEntry, type Position, type ServerMessage, type ServerMessages, type SpaceInfo, type SpaceJoined } from './messages.js'
import { OfflineQueue } from './offline-queue.js'
import { EMPTY_VIEW, nextSpaceView, type Self, type SpaceView, withSelfAt } from './space-view.js'

export { type CloseInfo, type ConnectionStatus, type OfflineReason, PlazaClientError, type StatusChange } from './connection-status.js'
export { ClientCloseCode, SUBPROTOCOL, type WebSocketConstructor, type WebSocketLike } from './socket.js'

/** Everything a PlazaClient emits: each plaza.v1 server message by its wire type, and its own events. */
export interface PlazaClientEvents extends ServerMessages {
  status: StatusChange
  /** The people in the space changed (any of the messages above); the map is `client.users`. */
  users: ReadonlyMap<string, PeerEntry>
  /** This connection was replaced by a newer one of the same user (4009); the client stays offline. */
  replaced: CloseInfo
  /** A connection ended, for whatever reason. */
  close: CloseInfo
}

export interface PlazaClientOptions extends ConnectionOptions {
  /** How many messages wait while offline (moves count once: only the latest is kept). Default 64. */
  offlineQueueLimit?: number
}

interface Waiter { spaceId: string, resolve: (joined: SpaceJoined) => void, reject: (err: PlazaClientError) => void }

export class PlazaClient extends Emitter<PlazaClientEvents> {
  readonly #connection: SpaceConnection
  readonly #queue: OfflineQueue
  #waiters: Waiter[] = []
  #view: SpaceView = EMPTY_VIEW
  /** The `space-joined` the view was last built from: what a join() of the same space resolves with. */
  #lastJoined: SpaceJoined | undefined

  constructor (options: PlazaClientOptions) {
    super()
    this.#connection = new SpaceConnection(options, {
      message: (message) => { this.#onMessage(message) },
      joined: (joined) => { this.#onJoined(joined) },
      status: (status, failure) => { this.#onStatus(status, failure) },
      closed: (info) => { this.#onClosed(info) }
    })
    this.#queue = new OfflineQueue(options.offlineQueueLimit ?? 64)
  }

  /** Where the connection stands (see ConnectionStatus). */
  get status (): StatusChange {
    return this.#connection.status
  }

  /** Everyone else in the space, ghosts included (`connected: false`), by userId. */
  get users (): ReadonlyMap<string, PeerEntry> {
    return this.#view.users
  }

  /** You, as the server placed you (and as your own moves since then predict). */
  get self (): Self | undefined {
    return this.#view.self
  }

  /** The space joined: size and obstacles. */
  get space (): SpaceInfo | undefined {
    return this.#view.space
  }

  /** The space this client is in or is getting back into. */
  get spaceId (): string | undefined {
    return this.#connection.spaceId
  }

  /** The last heartbeat's round trip (ms). */
  get latencyMs (): number | undefined {
    return this.#connection.latencyMs
  }

  /** Messages waiting for the connection, and how many were dropped because the queue was full. */
  get queue (): { size: number, dropped: number } {
    return { size: this.#queue.size, dropped: this.#queue.dropped }
  }

  /**
   * Joins `spaceId` (leaving the space this client is in, if another), connecting when needed.
   * Resolves with the server's `space-joined`; rejects when the client stops trying
   * (PlazaClientError: bad token, unknown space, gave up, closed…). Later reconnections rejoin on
   * their own.
   */
  join (spaceId: string): Promise<SpaceJoined> {
    const inSpace = spaceId === this.spaceId && this.status.status === 'connected'
    const joined = new Promise<SpaceJoined>((resolve, reject) => {
      if (inSpace && this.#lastJoined !== undefined) {
        resolve(this.#lastJoined)
        return
      }
      this.#waiters.push({ spaceId, resolve, reject })
    })
    // A caller that ignores the promise must not get an unhandled rejection; one that awaits still sees it.
    joined.catch(() => {})
    if (inSpace) return joined

    if (spaceId !== this.spaceId) {
      // What waited for another space (or for none) is not for this one.
      this.#queue.clear()
      this.#resetView()
      const superseded = new PlazaClientError('switched', `join(${JSON.stringify(spaceId)}) came after it`)
      for (const waiter of this.#waiters) if (waiter.spaceId !== spaceId) waiter.reject(superseded)
      this.#waiters = this.#waiters.filter((w) => w.spaceId === spaceId)
    }
    this.#connection.join(spaceId)
    return joined
  }

  /**
   * Asks to step onto (x, y). Sent at once when in a space; otherwise queued (replacing any move
   * already waiting) and sent after the next join. The server may refuse it (`move-rejected`,
   * which puts `self` back where the server has you).
   */
  move (x: number, y: number): 'sent' | 'queued' | 'dropped' {
    if (!Number.isInteger(x) || !Number.isInteger(y)) throw new TypeError('move needs integer x and y')
    const result = this.send('move', { x, y })
    // Where you are shown follows a move the server is about to judge, not one that waits.
    if (result === 'sent') this.#view = withSelfAt(this.#view, { x, y })
    return result
  }

  /**
   * Sends a plaza.v1 message, or queues it while the client is getting (back) into a space.
   * Dropped when there is no space to get into: before join(), after leave() or close(), or
   * offline for a reason that no reconnection will change.
   */
  send (type: string, payload: Record<string, unknown>): 'sent' | 'queued' | 'dropped' {
    if (this.status.status === 'connected' && this.#connection.send(type, payload)) return 'sent'
    if (!this.#connection.mayRejoin) return 'dropped'
    this.#queue.push({ type, payload })
    return 'queued'
  }

  /**
   * Leaves the space for good (peers get `user-left`, Redis forgets you) and closes the connection;
   * nothing is rejoined. join() starts again. Returns whether the server was told: only a
   * connected client can tell it; otherwise you stay a ghost until you come back or are swept.
   */
  leave (): boolean {
    this.#queue.clear()
    this.#resetView()
    return this.#connection.leave()
  }

  /**
   * Closes the connection deliberately: no reconnection. Peers see you disconnect (you stay as a
   * ghost until you come back or are swept); join() or reconnectNow() starts again.
   */
  close (): void {
    this.#queue.clear()
    this.#connection.close()
  }

  /** Tries now, when reconnecting (skipping the wait) or offline (with a fresh count of attempts). */
  reconnectNow (): void {
    this.#connection.reconnectNow()
  }

  #onMessage (message: ServerMessage): void {
    this.#view = nextSpaceView(this.#view, message)
    switch (message.type) {
      case 'space-joined':
        // Told once the status says `connected` (#onJoined).
        this.#lastJoined = message.payload
        return
      case 'user-joined-space':
      case 'user-moved':
      case 'user-disconnected':
      case 'user-left':
        this.emit(message.type, message.payload)
        this.emit('users', this.#view.users)
        return
      default:
        this.emit(message.type, message.payload)
    }
  }

  #onJoined (joined: SpaceJoined): void {
    this.emit('space-joined', joined)
    this.emit('users', this.#view.users)
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(joined)
    for (const { type, payload } of this.#queue.drain()) {
      const { x, y } = payload
      if (type === 'move' && typeof x === 'number' && typeof y === 'number') this.#view = withSelfAt(this.#view, { x, y })
      this.#connection.send(type, payload)
    }
  }

  #onStatus (status: StatusChange, failure: PlazaClientError | undefined): void {
    // Waiters first: a status listener may close() the client, and they must hear the real reason.
    if (failure !== undefined) for (const waiter of this.#waiters.splice(0)) waiter.reject(failure)
    this.emit('status', status)
  }

  #onClosed (info: CloseInfo): void {
    this.emit('close', info)
    if (info.code === CloseCode.Replaced) this.emit('replaced', info)
  }

  #resetView (): void {
    this.#view = EMPTY_VIEW
    this.#lastJoined = undefined
  }
}

export type { Position }
