/**
 * Plaza's client for the plaza.v1 dialect (shared/PROTOCOL.md), for browsers and for Node with the
 * `ws` package. It joins a space, keeps the people in it up to date, and when the connection drops
 * it reconnects with backoff and joins the same space again, sending what was queued meanwhile.
 * The connection (connection.ts) and the view of the space (space-view.ts) know nothing of each
 * other: this class joins them, and adds the join() promises, the offline queue, the chat's
 * requests (a page of history, a refusal traced to the chat it answers) and the events.
 */
import type { ConnectionOptions } from './connection-options.js'
import { type CloseInfo, PlazaClientError, type StatusChange } from './connection-status.js'
import { SpaceConnection } from './connection.js'
import { Emitter } from './emitter.js'
import {
  type ChatHistory,
  type ChatMessage,
  CloseCode,
  ErrorCode,
  type PeerEntry,
  type Position,
  type ServerError,
  type ServerMessage,
  type ServerMessages,
  type SpaceInfo,
  type SpaceJoined
} from './messages.js'
import { OfflineQueue } from './offline-queue.js'
import { Timer } from './timer.js'
import { cleanChatText } from '../src/protocol.js'
import { EMPTY_VIEW, nextSpaceView, type Self, type SpaceView, withOlderChat, withSelfAt } from './space-view.js'

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
  /**
   * A chat message this client did not hold yet: each `chat-message` said while in the space, and
   * on a rejoin those said while it was away. Once per message id; `client.chat` already has it.
   */
  chat: ChatMessage
  /** The server refused a chat sent with sendChat(), whose text it carries: it reached nobody. After the `error` event. */
  'chat-refused': ChatRefusal
}

/**
 * Why the server refused a chat (`invalid-message`: empty or too long once cleaned; `rate-limited`;
 * `unknown-type`: a server without chat), and the `text` of the chat it was taken for, as it was
 * given to sendChat().
 */
export type ChatRefusal = Omit<ServerError, 'close'> & { text: string }

export interface PlazaClientOptions extends ConnectionOptions {
  /** How many messages wait while offline (moves count once: only the latest is kept). Default 64. */
  offlineQueueLimit?: number
  /**
   * markActive() sends `active` only when this client did nothing the server counts as activity
   * (a move, a chat, `active`, the join) for this long (ms); keep it well under the server's
   * IDLE_AFTER_MS (60 s). Default 5000.
   */
  activeIntervalMs?: number
}

/** The errors that answer a chat or a chat-history request. */
const CHAT_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.InvalidMessage, ErrorCode.RateLimited])

/** How long loadOlderChat() waits for its page before it resolves with undefined (ms). */
const HISTORY_TIMEOUT_MS = 10_000

/** A page of history asked for and not answered yet. */
interface HistoryRequest { promise: Promise<ChatHistory | undefined>, settle: (page: ChatHistory | undefined) => void }

/** A chat sent and not answered yet: its text, and the text the server keeps of it if it takes it. */
interface SentChat { text: string, cleaned: string | undefined }

interface Waiter { spaceId: string, resolve: (joined: SpaceJoined) => void, reject: (err: PlazaClientError) => void }

export class PlazaClient extends Emitter<PlazaClientEvents> {
  readonly #connection: SpaceConnection
  readonly #queue: OfflineQueue
  #waiters: Waiter[] = []
  #view: SpaceView = EMPTY_VIEW
  /** The `space-joined` the view was last built from: what a join() of the same space resolves with. */
  #lastJoined: SpaceJoined | undefined
  /** What a rejoin brought that was said while this client was away: announced once it is connected. */
  #missedChat: ChatMessage[] = []
  /** Chats sent on this connection that the server has neither delivered back nor refused yet, oldest first. */
  #chatsAwaiting: SentChat[] = []
  #history: HistoryRequest | undefined
  readonly #historyTimer = new Timer()
  readonly #activeIntervalMs: number
  /** When this client last did what the server counts as activity (ms since epoch). */
  #lastActivityAt = 0

  constructor (options: PlazaClientOptions) {
    super()
    this.#connection = new SpaceConnection(options, {
      message: (message) => { this.#onMessage(message) },
      joined: (joined) => { this.#onJoined(joined) },
      status: (status, failure) => { this.#onStatus(status, failure) },
      closed: (info) => { this.#onClosed(info) }
    })
    this.#queue = new OfflineQueue(options.offlineQueueLimit ?? 64)
    this.#activeIntervalMs = options.activeIntervalMs ?? 5000
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

  /**
   * The space's chat as far as this client holds it, oldest first, one entry per message id: the
   * join's last messages, then each one said (the last 1,000), with older pages put before them by
   * loadOlderChat(). Replaced by a join's messages, except on a rejoin whose messages carry on from
   * what is held.
   */
  get chat (): readonly ChatMessage[] {
    return this.#view.chat
  }

  /**
   * Whether messages older than `chat[0]` exist: as the last page of history said, false after a
   * join that brought none, true once the oldest were dropped (1,000 are held); otherwise undefined
   * until a page is asked for after a join.
   */
  get moreChat (): boolean | undefined {
    return this.#view.moreChat
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
    if (result === 'sent') {
      this.#view = withSelfAt(this.#view, { x, y })
      this.#lastActivityAt = Date.now()
    }
    return result
  }

  /**
   * Says `text` to everyone in the space (the server cleans it: control characters out, trimmed,
   * 1 to its MAX_CHAT_CHARS code points, 500 by default). True when sent; false when the client is not connected to its space. A chat
   * is never queued: said after a reconnection it could be out of place, so the caller decides.
   * Accepted, it comes back as a `chat` event like everyone's; refused, as `chat-refused`.
   */
  sendChat (text: string): boolean {
    if (typeof text !== 'string') throw new TypeError('sendChat needs a string')
    if (this.status.status !== 'connected' || !this.#connection.send('chat', { text })) return false
    // No length limit here: a text too long for the server is found by its length when refused.
    this.#chatsAwaiting.push({ text, cleaned: cleanChatText(text, Number.POSITIVE_INFINITY) })
    return true
  }

  /**
   * Asks for up to `limit` (1–100; the server's default, 50, when absent) messages older than
   * `chat[0]` (the newest page when none is held), and resolves with the page once they are in
   * `chat`. Resolves at once with an empty page when `moreChat` is false; with undefined when no
   * page comes: not connected, the connection lost meanwhile, or the server refused the request
   * (the oldest held is no longer in its history: `moreChat` becomes false), or no answer within
   * 10 s. One request at a time: a call while one is out gets its promise.
   */
  loadOlderChat (limit?: number): Promise<ChatHistory | undefined> {
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 100)) {
      throw new RangeError('loadOlderChat takes a limit from 1 to 100')
    }
    if (this.#history !== undefined) return this.#history.promise
    if (this.status.status !== 'connected') return Promise.resolve(undefined)
    if (this.#view.moreChat === false) return Promise.resolve({ messages: [], more: false })
    const oldest = this.#view.chat[0]
    const payload = { ...(oldest === undefined ? {} : { before: oldest.id }), ...(limit === undefined ? {} : { limit }) }
    if (!this.#connection.send('chat-history', payload)) return Promise.resolve(undefined)
    let settle: HistoryRequest['settle'] = () => {}
    const promise = new Promise<ChatHistory | undefined>((resolve) => { settle = resolve })
    this.#history = { promise, settle }
    // An answer lost on the way must not block the next request for good.
    this.#historyTimer.start(HISTORY_TIMEOUT_MS, () => { this.#settleHistory(undefined) })
    return promise
  }

  /**
   * Tells the server the user is here (`active`: the page got focus, a key was pressed), so that
   * peers do not see them idle. Sent only when this client did nothing the server counts as
   * activity for `activeIntervalMs` (5 s): every frame counts against the server's message rate.
   * Returns whether it was sent; never queued (getting back into the space counts as activity).
   */
  markActive (): boolean {
    if (this.status.status !== 'connected') return false
    const now = Date.now()
    if (now - this.#lastActivityAt < this.#activeIntervalMs || !this.#connection.send('active', {})) return false
    this.#lastActivityAt = now
    return true
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
    const before = this.#view
    const now = Date.now()
    this.#view = nextSpaceView(before, message, now)
    switch (message.type) {
      case 'space-joined': {
        // Told once the status says `connected` (#onJoined).
        this.#lastJoined = message.payload
        // Joining is activity; what was sent on the last connection is answered no more.
        this.#lastActivityAt = now
        this.#chatsAwaiting = []
        // On a rejoin, what was said meanwhile; on a first join, the chat is history, not news.
        this.#missedChat = before.space?.id === message.payload.space.id && before.chatIds.size > 0
          ? this.#view.chat.filter((m) => !before.chatIds.has(m.id))
          : []
        return
      }
      case 'user-joined-space':
      case 'user-moved':
      case 'user-disconnected':
      case 'user-left':
      case 'user-idle':
        this.emit(message.type, message.payload)
        this.emit('users', this.#view.users)
        return
      case 'chat-message':
        this.#onChat(message.payload, before)
        return
      case 'chat-history':
        this.#onHistory(message.payload)
        return
      case 'error':
        this.emit('error', message.payload)
        this.#onError(message.payload)
        return
      default:
        this.emit(message.type, message.payload)
    }
  }

  #onChat (chat: ChatMessage, before: SpaceView): void {
    if (chat.userId === this.#view.self?.userId && this.#chatsAwaiting.length > 0) {
      // Answered: the one of the same text, else the oldest (the server may clean differently).
      const at = this.#chatsAwaiting.findIndex((sent) => sent.cleaned === chat.text)
      this.#chatsAwaiting.splice(Math.max(0, at), 1)
      this.#lastActivityAt = Date.now()
    }
    this.emit('chat-message', chat)
    if (this.#view.chat !== before.chat) this.emit('chat', chat)
    if (this.#view.users !== before.users) this.emit('users', this.#view.users)
  }

  #onHistory (page: ChatHistory): void {
    // A page nobody asked for through loadOlderChat() (a send() of its own), or one that came too late, is told, not kept.
    if (this.#history !== undefined) this.#view = withOlderChat(this.#view, page)
    this.emit('chat-history', page)
    this.#settleHistory(page)
  }

  /** Ends the request for a page of history that is out, if one is. */
  #settleHistory (page: ChatHistory | undefined): void {
    const request = this.#history
    this.#history = undefined
    this.#historyTimer.clear()
    request?.settle(page)
  }

  /**
   * An error that closes nothing may answer a chat or a page of history; it names neither. A chat's
   * refusal is sent as the chat is read, a history's after a read from Redis, so with both out the
   * error is taken for the chat's. An `unknown-type` (a server without chat) names the type it
   * refuses: it answers a chat or a history request only when it names that type.
   */
  #onError ({ code, message, close }: ServerError): void {
    if (close !== undefined) return
    const answers = whatItAnswers(code, message)
    if (answers === undefined) return
    if (answers !== 'chat-history' && this.#chatsAwaiting.length > 0) {
      const [sent] = this.#chatsAwaiting.splice(this.#refusedChat(code), 1)
      if (sent !== undefined) this.emit('chat-refused', { code, message, text: sent.text })
      return
    }
    if (answers === 'chat' || this.#history === undefined || code === ErrorCode.RateLimited) return
    // The oldest held message is gone from the server's history, and so is everything before it.
    this.#view = { ...this.#view, moreChat: false }
    this.#settleHistory(undefined)
  }

  /**
   * Which of the chats awaiting an answer an error of `code` refuses. An accepted chat comes back
   * after a write to Redis, a refusal at once: a chat's refusal may overtake the acceptance of one
   * sent before it. So an `invalid-message` is taken for the oldest chat with nothing left once
   * cleaned, or else for the longest (the server refuses only those above its MAX_CHAT_CHARS);
   * anything else for the oldest.
   */
  #refusedChat (code: string): number {
    if (code !== ErrorCode.InvalidMessage) return 0
    const lengths = this.#chatsAwaiting.map((sent) => (sent.cleaned === undefined ? -1 : codePoints(sent.cleaned)))
    const empty = lengths.indexOf(-1)
    return empty !== -1 ? empty : lengths.indexOf(Math.max(...lengths))
  }

  #onJoined (joined: SpaceJoined): void {
    this.emit('space-joined', joined)
    this.emit('users', this.#view.users)
    for (const chat of this.#missedChat.splice(0)) this.emit('chat', chat)
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
    if (status.status !== 'connected') {
      // Nothing sent on the connection that ended will be answered.
      this.#chatsAwaiting = []
      this.#settleHistory(undefined)
    }
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

/**
 * What an error that closes nothing may answer: `invalid-message` and `rate-limited` a chat or a
 * request for history, without saying which; `unknown-type` (a server without chat) the message
 * type it names, and only a chat or a history request is looked for.
 */
function whatItAnswers (code: string, message: string): 'chat' | 'chat-history' | 'either' | undefined {
  if (code === ErrorCode.UnknownType) {
    const type = /"([^"]*)"/.exec(message)?.[1]
    return type === 'chat' || type === 'chat-history' ? type : undefined
  }
  return CHAT_REFUSALS.has(code) ? 'either' : undefined
}

/** The length of a chat text as the server measures it: in code points. */
function codePoints (text: string): number {
  let count = 0
  for (const _ of text) count++
  return count
}

export type { Position }
