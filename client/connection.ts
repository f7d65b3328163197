/**
 * A client's connection to its space: opens the WebSocket, joins, keeps the connection alive with
 * heartbeats, and when it is lost tries again on the backoff schedule, or says why it will not.
 * It knows nothing of who is in the space: what the server says is handed to its owner.
 */
import { reconnectDelay } from './backoff.js'
import { browserOnline, NetworkEvents } from './browser-network.js'
import { type ConnectionOptions, type ConnectionSettings, connectionSettings } from './connection-options.js'
import { type CloseInfo, FINAL_CLOSE, type OfflineReason, PlazaClientError, type StatusChange } from './connection-status.js'
import { parseServerMessage, type ServerMessage, type SpaceJoined } from './messages.js'
import { Liveness } from './liveness.js'
import { ClientCloseCode, detachSocket, OPEN, SUBPROTOCOL, type WebSocketLike } from './socket.js'
import { Timer } from './timer.js'

/** What a connection tells its owner, as it happens. */
export interface ConnectionHooks {
  /** A server message while in the space, and the `space-joined` that puts it there (heard before the status says so). */
  message: (message: ServerMessage) => void
  /** In the space: the status is `connected`, and messages may be sent. */
  joined: (joined: SpaceJoined) => void
  /** The status changed; `failure`, when a join can no longer succeed, says why. */
  status: (status: StatusChange, failure?: PlazaClientError) => void
  /** A connection ended. */
  closed: (info: CloseInfo) => void
}

export class SpaceConnection {
  readonly #settings: ConnectionSettings
  readonly #hooks: ConnectionHooks

  #socket: WebSocketLike | undefined
  #spaceId: string | undefined
  #joined = false
  #status: StatusChange = { status: 'idle' }
  #attempt = 0
  /** The next attempt's countdown. */
  readonly #retry = new Timer()
  /** Until a joined connection has proved itself (and the count of attempts starts again). */
  readonly #stable = new Timer()
  readonly #liveness: Liveness
  #latencyMs: number | undefined

  readonly #network = new NetworkEvents(
    // Back online: try at once, even after giving up (but not after a final answer from the server).
    () => {
      const { status, reason } = this.#status
      if (status === 'reconnecting' || (status === 'offline' && reason === 'gave-up')) this.reconnectNow()
    },
    // Offline: a socket may live on for minutes without a byte getting through.
    () => {
      const socket = this.#socket
      if (socket !== undefined) {
        this.#abandon(socket, 'offline')
      } else if (this.#retry.pending) {
        // A countdown to an attempt that cannot succeed: wait for the network instead.
        this.#retry.clear()
        this.#waitForNetwork(this.#status.code)
      }
    }
  )

  constructor (options: ConnectionOptions, hooks: ConnectionHooks) {
    this.#settings = connectionSettings(options)
    this.#hooks = hooks
    this.#liveness = new Liveness(
      this.#settings,
      () => { this.send('heartbeat', { timestamp: Date.now() }) },
      (reason) => { if (this.#socket !== undefined) this.#abandon(this.#socket, reason) }
    )
  }

  get status (): StatusChange {
    return this.#status
  }

  /** The space this connection is in or is getting back into. */
  get spaceId (): string | undefined {
    return this.#spaceId
  }

  /** The last heartbeat's round trip (ms). */
  get latencyMs (): number | undefined {
    return this.#latencyMs
  }

  /**
   * Whether the connection is in its space or may still get (back) into it, so that what is sent
   * meanwhile is worth keeping: not before a join, after leave() or close(), or a final answer.
   */
  get mayRejoin (): boolean {
    if (this.#spaceId === undefined) return false
    const { status, reason } = this.#status
    return status === 'connecting' || status === 'reconnecting' || status === 'connected' ||
      (status === 'offline' && (reason === 'gave-up' || reason === 'disconnected'))
  }

  /** Gets into `spaceId`: on the open connection when there is one (leaving its space first), else on a new one. */
  join (spaceId: string): void {
    const socket = this.#socket
    const switching = this.#spaceId !== undefined && this.#spaceId !== spaceId
    this.#spaceId = spaceId
    this.#attempt = 0
    this.#retry.clear()
    if (socket !== undefined && socket.readyState === OPEN && this.#joined) {
      // The protocol keeps the socket across a leave: the next join goes on the same one.
      this.send('leave', {})
      this.#joined = false
      this.#liveness.awaitJoin()
      this.#setStatus({ status: 'connecting' })
      void this.#sendJoin(socket)
    } else if (socket === undefined || switching) {
      // A join still pending on an open socket was for the other space: start over.
      if (socket !== undefined) this.#closeSocket(socket, ClientCloseCode.Normal, 'joining another space')
      this.#setStatus({ status: 'connecting' })
      this.#open()
    }
  }

  /** Leaves the space for good and closes the connection; returns whether the server was told. */
  leave (): boolean {
    const told = this.#joined && this.send('leave', {})
    this.#spaceId = undefined
    this.#shutDown({ status: 'idle' }, new PlazaClientError('left', 'left the space'))
    return told
  }

  /** Closes the connection deliberately: nothing reconnects. */
  close (): void {
    this.#shutDown({ status: 'closed' }, new PlazaClientError('closed', 'the client was closed'))
  }

  /** Tries now, when reconnecting (skipping the wait) or offline (with a fresh count of attempts). */
  reconnectNow (): void {
    if (this.#spaceId === undefined) return
    const { status } = this.#status
    if (status === 'connected' || status === 'connecting') return
    // An attempt is under way (not waiting for a timer, nor for the network).
    if (status === 'reconnecting' && !this.#retry.pending && this.#status.waitingForNetwork !== true) return
    // The attempt made now: counted here unless a countdown already counted it.
    if (status !== 'reconnecting') this.#attempt = 0
    if (status !== 'reconnecting' || this.#status.waitingForNetwork === true) this.#attempt++
    this.#retry.clear()
    this.#setStatus(this.#reconnectingStatus(0, undefined))
    this.#open()
  }

  /** Sends a message on the open connection; false when there is none (nothing is kept). */
  send (type: string, payload: Record<string, unknown>): boolean {
    const socket = this.#socket
    if (socket === undefined || socket.readyState !== OPEN) return false
    try {
      socket.send(JSON.stringify({ type, payload }))
      return true
    } catch {
      return false
    }
  }

  #open (): void {
    this.#network.listen()
    let socket: WebSocketLike
    try {
      socket = new this.#settings.WebSocket(this.#settings.url, SUBPROTOCOL)
    } catch (err) {
      // A malformed URL: no attempt can succeed.
      this.#shutDown({ status: 'offline', reason: 'protocol-error' }, new PlazaClientError('protocol-error', (err as Error).message))
      return
    }
    this.#socket = socket
    this.#joined = false
    this.#liveness.awaitJoin()
    socket.onopen = () => { void this.#sendJoin(socket) }
    socket.onmessage = (event: { data: unknown }) => { this.#onFrame(socket, event.data) }
    socket.onclose = (event: { code: number, reason: string }) => { this.#onClosed(socket, event.code, event.reason) }
    // The close event that follows says what happened.
    socket.onerror = () => {}
  }

  async #sendJoin (socket: WebSocketLike): Promise<void> {
    let token: string
    try {
      const { token: source } = this.#settings
      token = typeof source === 'function' ? await source() : source
    } catch {
      if (socket === this.#socket) this.#abandon(socket, 'could not get a token')
      return
    }
    if (socket !== this.#socket || this.#spaceId === undefined) return
    this.send('join', { spaceId: this.#spaceId, token })
  }

  #onFrame (socket: WebSocketLike, data: unknown): void {
    if (socket !== this.#socket) return
    const message = parseServerMessage(data)
    if (message === undefined) return
    // Anything heard from a joined connection shows it is alive.
    if (this.#joined) this.#liveness.heard()
    if (message.type === 'space-joined') {
      this.#onJoined(message)
      return
    }
    // Until space-joined, what is heard of peers is from a space being left, on this same socket.
    if (!this.#joined && message.type !== 'error') return
    if (message.type === 'heartbeat') this.#latencyMs = Date.now() - message.payload.timestamp
    this.#hooks.message(message)
  }

  #onJoined (message: Extract<ServerMessage, { type: 'space-joined' }>): void {
    this.#joined = true
    this.#liveness.heard()
    // The count of attempts starts again once the connection has proved itself.
    const { reconnect } = this.#settings
    if (reconnect !== undefined) {
      this.#stable.start(reconnect.resetAfterMs, () => { this.#attempt = 0 })
    } else {
      this.#attempt = 0
    }
    // The owner takes the space in before anyone hears `connected`.
    this.#hooks.message(message)
    this.#setStatus({ status: 'connected' })
    // Unless a listener of that status closed the connection.
    if (this.#socket !== undefined) this.#liveness.startHeartbeat()
    this.#hooks.joined(message.payload)
  }

  #onClosed (socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.#socket) return
    this.#forget(socket)
    const final = FINAL_CLOSE.get(code)
    if (final === undefined) {
      this.#lost(code, reason)
      return
    }
    this.#setOffline(final, code, new PlazaClientError(final, reason === '' ? `closed with ${code}` : reason, code))
    this.#hooks.closed({ code, reason, willReconnect: false })
  }

  /** The connection is gone without the server saying it is final: try again on schedule. */
  #lost (code: number, reason: string): void {
    const { reconnect } = this.#settings
    if (reconnect === undefined) {
      this.#setOffline('disconnected', code, new PlazaClientError('disconnected', `closed with ${code}`, code))
      this.#hooks.closed({ code, reason, willReconnect: false })
      return
    }
    if (!browserOnline()) {
      this.#waitForNetwork(code)
      this.#hooks.closed({ code, reason, willReconnect: true })
      return
    }
    this.#attempt++
    if (this.#attempt > reconnect.maxAttempts) {
      this.#setOffline('gave-up', code, new PlazaClientError('gave-up', `no connection after ${reconnect.maxAttempts} attempts`, code))
      this.#hooks.closed({ code, reason, willReconnect: false })
      return
    }
    const delay = reconnectDelay(this.#attempt, reconnect, this.#settings.random)
    this.#retry.start(delay, () => {
      this.#setStatus(this.#reconnectingStatus(0, code))
      this.#open()
    })
    this.#setStatus(this.#reconnectingStatus(delay, code))
    this.#hooks.closed({ code, reason, willReconnect: true })
  }

  /**
   * The browser says it has no network: the `online` event starts the next attempt. A browser can
   * be wrong about it, so one is tried anyway every maxDelayMs, without counting it: a long time
   * offline must not leave the client without attempts once the network is back.
   */
  #waitForNetwork (code: number | undefined): void {
    const { reconnect } = this.#settings
    if (reconnect === undefined) return
    const delay = reconnect.maxDelayMs
    const next = this.#attempt + 1
    this.#retry.start(delay, () => {
      this.#setStatus(this.#reconnectingStatus(0, undefined, next))
      this.#open()
    })
    this.#setStatus(this.#reconnectingStatus(delay, code, next, true))
  }

  /** `attempt`: the one under way or next, which is not counted yet while the network is awaited. */
  #reconnectingStatus (delay: number, code: number | undefined, attempt = this.#attempt, waitingForNetwork = false): StatusChange {
    return {
      status: 'reconnecting',
      attempt,
      maxAttempts: this.#settings.reconnect?.maxAttempts ?? 0,
      ...(waitingForNetwork ? { waitingForNetwork } : {}),
      retryAt: Date.now() + delay,
      retryInMs: delay,
      ...(code !== undefined ? { code } : {})
    }
  }

  /** Gives up on a connection that went silent (or never joined): close it and count it as lost. */
  #abandon (socket: WebSocketLike, reason: string): void {
    this.#closeSocket(socket, ClientCloseCode.Timeout, reason)
    this.#lost(ClientCloseCode.Timeout, reason)
  }

  #setOffline (reason: OfflineReason, code: number, failure: PlazaClientError): void {
    this.#retry.clear()
    // Given up for want of a network, the client still comes back with it; after a final answer, not.
    if (reason !== 'gave-up') this.#network.stop()
    this.#setStatus({ status: 'offline', reason, code }, failure)
  }

  /** Ends whatever is under way (deliberately: nothing reconnects) and settles in `status`. */
  #shutDown (status: StatusChange, failure: PlazaClientError): void {
    this.#retry.clear()
    this.#network.stop()
    const socket = this.#socket
    if (socket !== undefined) this.#closeSocket(socket, ClientCloseCode.Normal, status.status === 'idle' ? 'left' : 'closed')
    this.#setStatus(status, failure)
  }

  #closeSocket (socket: WebSocketLike, code: number, reason: string): void {
    this.#forget(socket)
    try {
      socket.close(code, reason)
    } catch {}
  }

  /** Done with `socket`: nothing it does later changes anything. */
  #forget (socket: WebSocketLike): void {
    detachSocket(socket)
    if (this.#socket === socket) this.#socket = undefined
    this.#joined = false
    this.#liveness.stop()
    this.#stable.clear()
  }

  #setStatus (status: StatusChange, failure?: PlazaClientError): void {
    this.#status = status
    this.#hooks.status(status, failure)
  }
}
