/**
 * Plaza's client for the plaza.v1 dialect (shared/PROTOCOL.md), for browsers and for Node with the
 * `ws` package. It joins a space, keeps the people in it up to date, and when the connection drops
 * it reconnects with backoff and joins the same space again, sending what was queued meanwhile.
 */
import { DEFAULT_RECONNECT, reconnectDelay, type ReconnectOptions } from './backoff.js'
import { Emitter } from './emitter.js'
import {
  CloseCode,
  parseServerMessage,
  type MoveRejected,
  type PeerEntry,
  type Position,
  type ServerMessages,
  type SpaceInfo,
  type SpaceJoined
} from './messages.js'
import { OfflineQueue } from './offline-queue.js'

export const SUBPROTOCOL = 'plaza.v1'

/** What both the browser's WebSocket and the `ws` package offer, and all this client uses. */
export interface WebSocketLike {
  readonly readyState: number
  // biome-ignore lint/suspicious/noExplicitAny: the browser's and ws's event types differ; only .data/.code/.reason are read
  onopen: ((event: any) => void) | null
  // biome-ignore lint/suspicious/noExplicitAny: as above
  onmessage: ((event: any) => void) | null
  // biome-ignore lint/suspicious/noExplicitAny: as above
  onclose: ((event: any) => void) | null
  // biome-ignore lint/suspicious/noExplicitAny: as above
  onerror: ((event: any) => void) | null
  send: (data: string) => void
  close: (code?: number, reason?: string) => void
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

const OPEN = 1

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

export interface PlazaClientOptions {
  /** The server's WebSocket address, e.g. `ws://localhost:3000/ws`. */
  url: string
  /** The JWT, or a function that returns one (called for each connection, so it can be renewed). */
  token: string | (() => string | Promise<string>)
  /** The WebSocket class: the browser's by default; in Node, `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketConstructor
  /** The reconnection schedule (see DEFAULT_RECONNECT), or false for none. */
  reconnect?: Partial<ReconnectOptions> | false
  /** How often a connected client sends `heartbeat` (ms). Default 15000. */
  heartbeatIntervalMs?: number
  /** With a heartbeat sent and nothing heard for this long (ms), the connection is taken for dead. Default 10000. */
  heartbeatTimeoutMs?: number
  /** How long opening a connection and joining may take before the attempt counts as failed (ms). Default 10000. */
  connectTimeoutMs?: number
  /** How many messages wait while offline (moves count once: only the latest is kept). Default 64. */
  offlineQueueLimit?: number
  /** In [0, 1): the jitter's source (tests make it predictable). Default Math.random. */
  random?: () => number
}

/** Why a join() did not (or no longer can) succeed; `switched`: another join() came after it. */
export class PlazaClientError extends Error {
  constructor (readonly code: OfflineReason | 'closed' | 'left' | 'switched', message: string, readonly closeCode?: number) {
    super(message)
    this.name = 'PlazaClientError'
  }
}

const TERMINAL: ReadonlyMap<number, OfflineReason> = new Map([
  [CloseCode.BadToken, 'bad-token'],
  [CloseCode.UnknownSpace, 'unknown-space'],
  [CloseCode.Replaced, 'replaced'],
  [CloseCode.ProtocolViolation, 'protocol-error'],
  [CloseCode.TooLarge, 'protocol-error']
])

/** Close codes this client uses for connections it gives up on (never sent by a server). */
export const ClientCloseCode = { Timeout: 4000, Normal: 1000 } as const

interface Waiter { spaceId: string, resolve: (joined: SpaceJoined) => void, reject: (err: PlazaClientError) => void }

/** The browser's view of the network, where there is one (Node has none: always online). */
const browserOnline = (): boolean => (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine !== false

export class PlazaClient extends Emitter<PlazaClientEvents> {
  readonly #url: string
  readonly #token: PlazaClientOptions['token']
  readonly #WebSocket: WebSocketConstructor
  readonly #reconnect: ReconnectOptions | undefined
  readonly #heartbeatIntervalMs: number
  readonly #heartbeatTimeoutMs: number
  readonly #connectTimeoutMs: number
  readonly #random: () => number
  readonly #queue: OfflineQueue

  #socket: WebSocketLike | undefined
  #spaceId: string | undefined
  #joined = false
  #status: StatusChange = { status: 'idle' }
  #attempt = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #stableTimer: ReturnType<typeof setTimeout> | undefined
  #deadline: ReturnType<typeof setTimeout> | undefined
  #heartbeat: ReturnType<typeof setInterval> | undefined
  #waiters: Waiter[] = []
  #users = new Map<string, PeerEntry>()
  #self: { userId: string, x: number, y: number } | undefined
  #space: SpaceInfo | undefined
  #lastJoined: SpaceJoined | undefined
  #latencyMs: number | undefined
  /** Back online: try at once, even after giving up (but not after a final answer from the server). */
  readonly #onOnline = (): void => {
    const { status, reason } = this.#status
    if (status === 'reconnecting' || (status === 'offline' && reason === 'gave-up')) this.reconnectNow()
  }

  /** The browser lost its network: a socket may live on for minutes without a byte getting through. */
  readonly #onOffline = (): void => {
    const socket = this.#socket
    if (socket !== undefined) {
      this.#abandon(socket, 'offline')
    } else if (this.#retryTimer !== undefined) {
      // A countdown to an attempt that cannot succeed: wait for the network instead.
      this.#clearRetry()
      this.#waitForNetwork(this.#status.code)
    }
  }

  constructor (options: PlazaClientOptions) {
    super()
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WebSocketClass === undefined) throw new TypeError('No WebSocket here: pass options.WebSocket (in Node, the `ws` package)')
    this.#url = options.url
    this.#token = options.token
    this.#WebSocket = WebSocketClass
    this.#reconnect = options.reconnect === false ? undefined : { ...DEFAULT_RECONNECT, ...options.reconnect }
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? 15_000
    this.#heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 10_000
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000
    this.#random = options.random ?? Math.random
    this.#queue = new OfflineQueue(options.offlineQueueLimit ?? 64)
  }

  /** Where the connection stands (see ConnectionStatus). */
  get status (): StatusChange {
    return this.#status
  }

  /** Everyone else in the space, ghosts included (`connected: false`), by userId. */
  get users (): ReadonlyMap<string, PeerEntry> {
    return this.#users
  }

  /** You, as the server placed you (and as your own moves since then predict). */
  get self (): { userId: string, x: number, y: number } | undefined {
    return this.#self
  }

  /** The space joined: size and obstacles. */
  get space (): SpaceInfo | undefined {
    return this.#space
  }

  /** The space this client is in or is getting back into. */
  get spaceId (): string | undefined {
    return this.#spaceId
  }

  /** The last heartbeat's round trip (ms). */
  get latencyMs (): number | undefined {
    return this.#latencyMs
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
    const joined = new Promise<SpaceJoined>((resolve, reject) => {
      if (spaceId === this.#spaceId && this.#status.status === 'connected' && this.#lastJoined !== undefined) {
        resolve(this.#lastJoined)
        return
      }
      this.#waiters.push({ spaceId, resolve, reject })
    })
    // A caller that ignores the promise must not get an unhandled rejection; one that awaits still sees it.
    joined.catch(() => {})
    if (spaceId === this.#spaceId && this.#status.status === 'connected') return joined

    const socket = this.#socket
    const switching = this.#spaceId !== undefined && this.#spaceId !== spaceId
    if (spaceId !== this.#spaceId) {
      // What waited for another space (or for none) is not for this one.
      this.#queue.clear()
      this.#resetView()
      const superseded = new PlazaClientError('switched', `join(${JSON.stringify(spaceId)}) came after it`)
      for (const waiter of this.#waiters) if (waiter.spaceId !== spaceId) waiter.reject(superseded)
      this.#waiters = this.#waiters.filter((w) => w.spaceId === spaceId)
    }
    this.#spaceId = spaceId
    this.#attempt = 0
    this.#clearRetry()
    if (socket !== undefined && socket.readyState === OPEN && this.#joined) {
      // The protocol keeps the socket across a leave: the next join goes on the same one.
      this.#sendNow('leave', {})
      this.#joined = false
      this.#stopHeartbeat()
      this.#setStatus({ status: 'connecting' })
      this.#armDeadline(this.#connectTimeoutMs, socket)
      void this.#sendJoin(socket)
    } else if (socket === undefined || switching) {
      // A join still pending on an open socket was for the other space: start over.
      if (socket !== undefined) this.#abandonQuietly(socket)
      this.#setStatus({ status: 'connecting' })
      this.#open()
    }
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
    if (result === 'sent' && this.#self !== undefined) {
      this.#self.x = x
      this.#self.y = y
    }
    return result
  }

  /**
   * Sends a plaza.v1 message, or queues it while the client is getting (back) into a space.
   * Dropped when there is no space to get into: before join(), after leave() or close(), or
   * offline for a reason that no reconnection will change.
   */
  send (type: string, payload: Record<string, unknown>): 'sent' | 'queued' | 'dropped' {
    const { status, reason } = this.#status
    if (status === 'connected' && this.#sendNow(type, payload)) return 'sent'
    const comingBack = status === 'connecting' || status === 'reconnecting' || status === 'connected' ||
      (status === 'offline' && (reason === 'gave-up' || reason === 'disconnected'))
    if (!comingBack || this.#spaceId === undefined) return 'dropped'
    this.#queue.push({ type, payload })
    return 'queued'
  }

  /**
   * Leaves the space for good (peers get `user-left`, Redis forgets you) and closes the connection;
   * nothing is rejoined. join() starts again. Returns whether the server was told: only a
   * connected client can tell it; otherwise you stay a ghost until you come back or are swept.
   */
  leave (): boolean {
    const told = this.#joined && this.#sendNow('leave', {})
    this.#spaceId = undefined
    this.#queue.clear()
    this.#resetView()
    this.#shutDown({ status: 'idle' }, new PlazaClientError('left', 'left the space'))
    return told
  }

  /**
   * Closes the connection deliberately: no reconnection. Peers see you disconnect (you stay as a
   * ghost until you come back or are swept); join() or reconnectNow() starts again.
   */
  close (): void {
    this.#queue.clear()
    this.#shutDown({ status: 'closed' }, new PlazaClientError('closed', 'the client was closed'))
  }

  /** Tries now, when reconnecting (skipping the wait) or offline (with a fresh count of attempts). */
  reconnectNow (): void {
    if (this.#spaceId === undefined) return
    const { status } = this.#status
    if (status === 'connected' || status === 'connecting') return
    // An attempt is under way (not waiting for a timer, nor for the network).
    if (status === 'reconnecting' && this.#retryTimer === undefined && this.#status.waitingForNetwork !== true) return
    // The attempt made now: counted here unless a countdown already counted it.
    if (status !== 'reconnecting') this.#attempt = 0
    if (status !== 'reconnecting' || this.#status.waitingForNetwork === true) this.#attempt++
    this.#clearRetry()
    this.#setStatus(this.#reconnectingStatus(0))
    this.#open()
  }

  #open (): void {
    this.#listenToNetwork(true)
    let socket: WebSocketLike
    try {
      socket = new this.#WebSocket(this.#url, SUBPROTOCOL)
    } catch (err) {
      // A malformed URL: no attempt can succeed.
      this.#shutDown({ status: 'offline', reason: 'protocol-error' }, new PlazaClientError('protocol-error', (err as Error).message))
      return
    }
    this.#socket = socket
    this.#joined = false
    this.#armDeadline(this.#connectTimeoutMs, socket)
    socket.onopen = () => { void this.#sendJoin(socket) }
    socket.onmessage = (event: { data: unknown }) => { this.#onFrame(socket, event.data) }
    socket.onclose = (event: { code: number, reason: string }) => { this.#onClosed(socket, event.code, event.reason) }
    // The close event that follows says what happened.
    socket.onerror = () => {}
  }

  async #sendJoin (socket: WebSocketLike): Promise<void> {
    let token: string
    try {
      token = typeof this.#token === 'function' ? await this.#token() : this.#token
    } catch {
      if (socket === this.#socket) this.#abandon(socket, 'could not get a token')
      return
    }
    if (socket !== this.#socket || this.#spaceId === undefined) return
    this.#sendNow('join', { spaceId: this.#spaceId, token })
  }

  #onFrame (socket: WebSocketLike, data: unknown): void {
    if (socket !== this.#socket) return
    const message = parseServerMessage(data)
    if (message === undefined) return
    // Anything heard from a joined connection shows it is alive.
    if (this.#joined) this.#disarmDeadline()
    const { type, payload } = message
    // Until space-joined, what is heard of peers is from a space being left, on this same socket.
    if (!this.#joined && type !== 'space-joined' && type !== 'error') return
    switch (type) {
      case 'space-joined':
        this.#onJoined(payload as unknown as SpaceJoined)
        return
      case 'user-joined-space': {
        const p = payload as unknown as ServerMessages['user-joined-space']
        this.#users.set(p.userId, { userId: p.userId, username: p.username, x: p.x, y: p.y, connected: true })
        break
      }
      case 'user-moved': {
        const p = payload as unknown as ServerMessages['user-moved']
        const user = this.#users.get(p.userId)
        if (user !== undefined) {
          user.x = p.x
          user.y = p.y
          user.connected = true
        } else {
          this.#users.set(p.userId, { userId: p.userId, username: p.userId, x: p.x, y: p.y, connected: true })
        }
        break
      }
      case 'user-disconnected': {
        const user = this.#users.get((payload as unknown as ServerMessages['user-disconnected']).userId)
        if (user !== undefined) user.connected = false
        break
      }
      case 'user-left':
        this.#users.delete((payload as unknown as ServerMessages['user-left']).userId)
        break
      case 'move-rejected': {
        const p = payload as unknown as MoveRejected
        if (this.#self !== undefined) {
          this.#self.x = p.x
          this.#self.y = p.y
        }
        this.emit('move-rejected', p)
        return
      }
      case 'heartbeat': {
        const p = payload as unknown as ServerMessages['heartbeat']
        this.#latencyMs = Date.now() - p.timestamp
        this.emit('heartbeat', p)
        return
      }
      case 'error':
        this.emit('error', payload as unknown as ServerMessages['error'])
        return
    }
    this.emit(type, payload as never)
    this.emit('users', this.#users)
  }

  #onJoined (joined: SpaceJoined): void {
    this.#joined = true
    this.#disarmDeadline()
    // The count of attempts starts again once the connection has proved itself.
    this.#clearStable()
    if (this.#reconnect !== undefined) {
      this.#stableTimer = setTimeout(() => {
        this.#stableTimer = undefined
        this.#attempt = 0
      }, this.#reconnect.resetAfterMs)
    } else {
      this.#attempt = 0
    }
    this.#lastJoined = joined
    this.#space = joined.space
    this.#self = { userId: joined.userId, x: joined.spawn.x, y: joined.spawn.y }
    this.#users = new Map(joined.users.map((u) => [u.userId, { ...u }]))
    this.#setStatus({ status: 'connected' })
    this.#startHeartbeat()
    this.emit('space-joined', joined)
    this.emit('users', this.#users)
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(joined)
    for (const { type, payload } of this.#queue.drain()) {
      if (type === 'move' && this.#self !== undefined) {
        this.#self.x = payload.x as number
        this.#self.y = payload.y as number
      }
      this.#sendNow(type, payload)
    }
  }

  #onClosed (socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.#socket) return
    this.#detach(socket)
    const terminal = TERMINAL.get(code)
    if (terminal !== undefined) {
      const info: CloseInfo = { code, reason, willReconnect: false }
      this.#setOffline(terminal, code, new PlazaClientError(terminal, reason === '' ? `closed with ${code}` : reason, code))
      this.emit('close', info)
      if (code === CloseCode.Replaced) this.emit('replaced', info)
      return
    }
    this.#lost(code, reason)
  }

  /** The connection is gone without the server saying it is final: try again on schedule. */
  #lost (code: number, reason: string): void {
    const reconnect = this.#reconnect
    if (reconnect === undefined) {
      this.#setOffline('disconnected', code, new PlazaClientError('disconnected', `closed with ${code}`, code))
      this.emit('close', { code, reason, willReconnect: false })
      return
    }
    if (!browserOnline()) {
      this.#waitForNetwork(code)
      this.emit('close', { code, reason, willReconnect: true })
      return
    }
    this.#attempt++
    if (this.#attempt > reconnect.maxAttempts) {
      this.#setOffline('gave-up', code, new PlazaClientError('gave-up', `no connection after ${reconnect.maxAttempts} attempts`, code))
      this.emit('close', { code, reason, willReconnect: false })
      return
    }
    const delay = reconnectDelay(this.#attempt, reconnect, this.#random)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.#setStatus(this.#reconnectingStatus(0, code))
      this.#open()
    }, delay)
    this.#setStatus(this.#reconnectingStatus(delay, code))
    this.emit('close', { code, reason, willReconnect: true })
  }

  /**
   * The browser says it has no network: no attempt is spent; the `online` event starts the next one.
   * A browser can be wrong about it, so one is tried anyway every maxDelayMs.
   */
  #waitForNetwork (code: number | undefined): void {
    const reconnect = this.#reconnect
    if (reconnect === undefined) return
    const delay = reconnect.maxDelayMs
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.reconnectNow()
    }, delay)
    this.#setStatus({
      status: 'reconnecting',
      attempt: this.#attempt + 1,
      maxAttempts: reconnect.maxAttempts,
      waitingForNetwork: true,
      retryAt: Date.now() + delay,
      retryInMs: delay,
      ...(code !== undefined ? { code } : {})
    })
  }

  #reconnectingStatus (delay: number, code?: number): StatusChange {
    return {
      status: 'reconnecting',
      attempt: this.#attempt,
      maxAttempts: this.#reconnect?.maxAttempts ?? 0,
      retryAt: Date.now() + delay,
      retryInMs: delay,
      ...(code !== undefined ? { code } : {})
    }
  }

  /** Gives up on a connection that went silent (or never joined): close it and count it as lost. */
  #abandon (socket: WebSocketLike, reason: string): void {
    this.#detach(socket)
    try {
      socket.close(ClientCloseCode.Timeout, reason)
    } catch {}
    this.#lost(ClientCloseCode.Timeout, reason)
  }

  #abandonQuietly (socket: WebSocketLike): void {
    this.#detach(socket)
    try {
      socket.close(ClientCloseCode.Normal, 'joining another space')
    } catch {}
  }

  #setOffline (reason: OfflineReason, code: number, error: PlazaClientError): void {
    this.#clearRetry()
    // Given up for want of a network, the client still comes back with it; after a final answer, not.
    if (reason !== 'gave-up') this.#listenToNetwork(false)
    // Waiters first: a status listener may close() the client, and they must hear the real reason.
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error)
    this.#setStatus({ status: 'offline', reason, code })
  }

  /** Ends whatever is under way (deliberately: nothing reconnects) and settles in `status`. */
  #shutDown (status: StatusChange, error: PlazaClientError): void {
    this.#clearRetry()
    this.#listenToNetwork(false)
    const socket = this.#socket
    if (socket !== undefined) {
      this.#detach(socket)
      try {
        socket.close(ClientCloseCode.Normal, status.status === 'idle' ? 'left' : 'closed')
      } catch {}
    }
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error)
    this.#setStatus(status)
  }

  /** Stops listening to a socket this client is done with (its late events must change nothing). */
  #detach (socket: WebSocketLike): void {
    socket.onopen = null
    socket.onmessage = null
    socket.onclose = null
    // Not null: `ws` throws an 'error' event that nobody listens to (e.g. closing while connecting).
    socket.onerror = () => {}
    if (this.#socket === socket) this.#socket = undefined
    this.#joined = false
    this.#disarmDeadline()
    this.#stopHeartbeat()
    this.#clearStable()
  }

  #sendNow (type: string, payload: Record<string, unknown>): boolean {
    const socket = this.#socket
    if (socket === undefined || socket.readyState !== OPEN) return false
    try {
      socket.send(JSON.stringify({ type, payload }))
      return true
    } catch {
      return false
    }
  }

  #startHeartbeat (): void {
    this.#stopHeartbeat()
    const socket = this.#socket
    if (socket === undefined) return
    this.#heartbeat = setInterval(() => {
      this.#sendNow('heartbeat', { timestamp: Date.now() })
      if (this.#deadline === undefined) this.#armDeadline(this.#heartbeatTimeoutMs, socket)
    }, this.#heartbeatIntervalMs)
  }

  #stopHeartbeat (): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
  }

  #armDeadline (ms: number, socket: WebSocketLike): void {
    this.#disarmDeadline()
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined
      if (socket === this.#socket) this.#abandon(socket, this.#joined ? 'heartbeat timeout' : 'connect timeout')
    }, ms)
  }

  #disarmDeadline (): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline)
    this.#deadline = undefined
  }

  #clearStable (): void {
    if (this.#stableTimer !== undefined) clearTimeout(this.#stableTimer)
    this.#stableTimer = undefined
  }

  #clearRetry (): void {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
  }

  #resetView (): void {
    this.#users = new Map()
    this.#self = undefined
    this.#space = undefined
    this.#lastJoined = undefined
  }

  #setStatus (status: StatusChange): void {
    this.#status = status
    this.emit('status', status)
  }

  /**
   * In a browser: going offline drops the connection at once (rather than after the heartbeat
   * timeout), and coming back online skips the wait before the next attempt.
   */
  #listenToNetwork (on: boolean): void {
    const target = globalThis as { addEventListener?: (type: string, fn: () => void) => void, removeEventListener?: (type: string, fn: () => void) => void }
    if (on) {
      target.addEventListener?.('online', this.#onOnline)
      target.addEventListener?.('offline', this.#onOffline)
    } else {
      target.removeEventListener?.('online', this.#onOnline)
      target.removeEventListener?.('offline', this.#onOffline)
    }
  }
}

export type { Position }
