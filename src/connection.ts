import { isUtf8 } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import { WebSocket, type RawData } from 'ws'
import type { Counters } from './counters.js'
import { corkForThisTurn } from './cork.js'
import { codecs, type Codec } from './dialects/index.js'
import type { DirectEvent } from './events.js'
import type { Identity } from './identity.js'
import type { Logger } from './logger.js'
import { cleanChatText, CloseCode, ErrorCode, parseClientMessage, type ClientMessage, type Dialect } from './protocol.js'
import type { Member, Peer } from './rooms/member.js'
import type { RoomManager } from './rooms/room-manager.js'
import { isSpaceId } from './spaces/space.js'
import { RateWindow } from './util/rate-window.js'

export interface ConnectionOptions {
  socket: WebSocket
  dialect: Dialect
  rooms: RoomManager
  /** Verifies a join token; undefined when it names nobody or does not verify. */
  authenticate: (token: unknown) => Identity | undefined
  log: Logger
  maxMessagesPerS: number
  joinTimeoutMs: number
  /** A client that lets more than this pile up unread is cut off (it stopped reading). */
  maxBufferedBytes: number
  /** ws's maxPayload: a larger frame is refused unread; plaza.v1 is told the limit. */
  maxMessageBytes: number
  /** MAX_CHAT_CHARS: code points a chat may have once cleaned. */
  maxChatChars: number
  /** MAX_CHATS_PER_10S: accepted chats per 10 s. */
  maxChatsPer10s: number
  counters: Counters
}

type State = 'idle' | 'joining' | 'joined' | 'closed'

/** Frames kept while a join is resolved; a client that sends more is flooding. */
const MAX_HELD_FRAMES = 64

/** Close reasons are limited to 123 bytes by RFC 6455: cut on a character boundary, never inside one. */
export function closeReason (message: string): string {
  let bytes = 0
  let end = 0
  for (const char of message) {
    bytes += Buffer.byteLength(char)
    if (bytes > 123) break
    end += char.length
  }
  return message.slice(0, end)
}

/**
 * Calls `onRefused` when ws refuses a frame over maxPayload, just before ws answers it with its own
 * close 1009: ws writes that close frame from its listener of its parser's error, and this listener
 * goes first. The parser is `_receiver`, not part of ws's typed API; were it gone, ws's close would
 * still follow, without what `onRefused` sends.
 */
function beforeOversizeClose (socket: WebSocket, onRefused: () => void): void {
  const parser = (socket as unknown as { _receiver?: EventEmitter })._receiver
  parser?.prependListener('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') onRefused()
  })
}

/** ws sends a Buffer as a binary frame unless told otherwise; every Plaza frame is JSON text. */
const TEXT = { binary: false } as const

/**
 * Connection ids: 72 random bits per process and a counter that keeps them apart within it. Unique
 * across servers and restarts as a UUID is, without formatting one per upgrade.
 */
const ID_PREFIX = randomBytes(9).toString('base64url')
let connectionsMade = 0

/**
 * One WebSocket, from upgrade to close: turns frames into room-manager calls and enforces what is
 * per connection (join first, message rate, join timeout, liveness). It never decides who the user
 * is beyond what the token says.
 */
export class Connection implements Peer {
  readonly connectionId = `${ID_PREFIX}.${(++connectionsMade).toString(36)}`
  readonly dialect: Dialect
  readonly #socket: WebSocket
  readonly #codec: Codec
  readonly #rooms: RoomManager
  readonly #authenticate: ConnectionOptions['authenticate']
  readonly #log: Logger
  readonly #maxMessagesPerS: number
  readonly #joinTimeoutMs: number
  readonly #counters: Counters
  readonly #maxBufferedBytes: number
  #state: State = 'idle'
  #member: Member | undefined
  #everJoined = false
  /** Frames that arrived while a join was being resolved, handled in order once it is. */
  #held: string[] = []
  #joinTimer: NodeJS.Timeout | undefined
  /** MAX_MESSAGES_PER_S. */
  readonly #messages: RateWindow
  readonly #maxChatChars: number
  /** MAX_CHATS_PER_10S: only accepted chats count. */
  readonly #chats: RateWindow
  #alive = true

  constructor (options: ConnectionOptions) {
    this.#socket = options.socket
    this.dialect = options.dialect
    this.#codec = codecs[options.dialect]
    this.#rooms = options.rooms
    this.#authenticate = options.authenticate
    this.#log = options.log
    this.#maxMessagesPerS = options.maxMessagesPerS
    this.#messages = new RateWindow(options.maxMessagesPerS)
    this.#joinTimeoutMs = options.joinTimeoutMs
    this.#counters = options.counters
    this.#maxBufferedBytes = options.maxBufferedBytes
    this.#maxChatChars = options.maxChatChars
    this.#chats = new RateWindow(options.maxChatsPer10s, 10_000)
    this.#socket.on('message', (data, isBinary) => {
      try {
        this.#onFrame(data, isBinary)
      } catch (err) {
        // A bug must cost one connection, never the process.
        this.#log.error({ err, connectionId: this.connectionId }, 'Frame handling failed; closing the connection')
        this.#socket.close(1011, 'internal error')
        this.#onClose()
      }
    })
    // Unread, the frame is refused alike before and after a join: 1009, and plaza.v1 is told why.
    beforeOversizeClose(this.#socket, () => {
      this.#close(ErrorCode.TooLarge, `frames are limited to ${options.maxMessageBytes} bytes`, CloseCode.TooLarge)
    })
    this.#socket.on('pong', () => { this.#alive = true })
    this.#socket.once('close', () => this.#onClose())
    this.#armJoinTimeout()
  }

  get isOpen (): boolean {
    return this.#state !== 'closed' && this.#socket.readyState === WebSocket.OPEN
  }

  /** Sends a text frame: a string, or its UTF-8 bytes (a broadcast encodes them once for all). */
  send (frame: string | Buffer): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return
    // The backlog is read at a turn's first frame to this socket, before the frames corked in this
    // turn count in it: a client that reads along is never cut off for what one busy turn sends it.
    // Once per turn, not per frame, is also cheaper: ws sums the backlog at each read.
    const firstThisTurn = corkForThisTurn(this.#socket)
    if (firstThisTurn && this.#socket.bufferedAmount > this.#maxBufferedBytes) {
      // It stopped reading: its backlog would grow in this server's memory. Cut it off (a drop).
      this.#log.warn({ connectionId: this.connectionId, buffered: this.#socket.bufferedAmount }, 'Cut off a client that stopped reading')
      this.#socket.terminate()
      this.#onClose()
      return
    }
    this.#socket.send(frame, TEXT)
    this.#counters.messagesOut++
  }

  tell (event: DirectEvent): void {
    const frame = this.#codec(event)
    if (frame !== undefined) this.send(frame)
  }

  end (error: { code: ErrorCode, message: string, close: number }): void {
    this.#member = undefined
    this.#close(error.code, error.message, error.close)
  }

  /** Called by the liveness sweep: false (and the socket terminated) when the last ping went unanswered. */
  checkAlive (): boolean {
    if (!this.#alive) {
      this.#socket.terminate()
      return false
    }
    this.#alive = false
    this.#socket.ping()
    return true
  }

  #onFrame (data: RawData, isBinary: boolean): void {
    if (this.#state === 'closed') return
    this.#alive = true
    this.#counters.messagesIn++
    if (!this.#messages.admit(Date.now())) {
      this.#close(ErrorCode.RateLimited, `more than ${this.#maxMessagesPerS} messages in a second`, CloseCode.TooManyMessages)
      return
    }
    if (isBinary) {
      this.#refuse(ErrorCode.InvalidMessage, 'binary frames are not accepted; send JSON text')
      return
    }
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
    // ws is told not to check UTF-8 (it would close with 1007, a code PROTOCOL does not know).
    if (!isUtf8(bytes)) {
      this.#refuse(ErrorCode.InvalidMessage, 'text frames must be UTF-8')
      return
    }
    const text = bytes.toString()
    if (this.#state !== 'joining') this.#handle(text)
    else if (this.#held.length < MAX_HELD_FRAMES) this.#held.push(text)
    else this.#close(ErrorCode.RateLimited, 'too many messages while the join is resolved', CloseCode.TooManyMessages)
  }

  #handle (text: string): void {
    const parsed = parseClientMessage(text)
    if (!parsed.ok) {
      this.#refuse(parsed.code, parsed.message)
      return
    }
    const message = parsed.message
    const member = this.#member
    if (member === undefined) {
      if (message.type === 'join') this.#startJoin(message)
      else this.#refuse(ErrorCode.NotJoined, `"${message.type}" before "join"`)
      return
    }
    switch (message.type) {
      case 'move':
        this.#rooms.move(member, message.x, message.y)
        break
      case 'leave':
        this.#member = undefined
        this.#state = 'idle'
        this.#rooms.leave(member, this)
        this.#armJoinTimeout()
        break
      case 'join':
        this.#refuse(ErrorCode.AlreadyJoined, `already in space ${member.spaceId}; send "leave" first`)
        break
      case 'heartbeat':
        this.tell({ kind: 'heartbeat', timestamp: message.timestamp, serverTime: Date.now() })
        break
      case 'heartbeat-response':
        break
      case 'chat':
      case 'chat-history':
      case 'active':
        // plaza.v1 only: a metaverse client knows none of these, and hears nothing of them.
        if (this.dialect !== 'plaza.v1') this.#refuse(ErrorCode.UnknownType, `unknown message type "${message.type}"`)
        else this.#handleChatOrActivity(member, message)
        break
    }
  }

  #handleChatOrActivity (member: Member, message: Extract<ClientMessage, { type: 'chat' | 'chat-history' | 'active' }>): void {
    switch (message.type) {
      case 'chat': {
        const text = cleanChatText(message.text, this.#maxChatChars)
        if (text === undefined) {
          this.#counters.chats['invalid-message']++
          this.#refuse(ErrorCode.InvalidMessage, `a chat text must have 1 to ${this.#maxChatChars} characters once control characters and surrounding spaces are removed`)
        } else if (!this.#chats.admit(Date.now())) {
          this.#counters.chats['rate-limited']++
          this.#refuse(ErrorCode.RateLimited, `more than ${this.#chats.limit} chat messages in 10 s`)
        } else {
          this.#rooms.chat(member, text)
        }
        break
      }
      case 'chat-history':
        this.#rooms.chatHistory(member, this, message.before, message.limit).then((outcome) => {
          if (outcome === 'unknown' && this.#member === member) this.#refuse(ErrorCode.InvalidMessage, 'chat-history: "before" names no message of this space')
        }).catch((err: unknown) => {
          this.#log.warn({ err, connectionId: this.connectionId }, 'Could not answer a chat-history request')
        })
        break
      case 'active':
        this.#rooms.active(member)
        break
    }
  }

  /** A join runs on after this frame: whatever fails in it (or in the frames held for it) costs this connection only. */
  #startJoin (message: Extract<ClientMessage, { type: 'join' }>): void {
    this.#join(message).catch((err: unknown) => {
      this.#log.error({ err, connectionId: this.connectionId }, 'Join handling failed; closing the connection')
      this.#socket.close(1011, 'internal error')
      this.#onClose()
    })
  }

  async #join (message: Extract<ClientMessage, { type: 'join' }>): Promise<void> {
    const identity = this.#authenticate(message.token)
    if (identity === undefined) {
      this.#log.info({ connectionId: this.connectionId }, 'Refused a join: bad or expired token')
      this.#close(ErrorCode.BadToken, 'bad or expired token (a numeric userId must be a safe integer: send user ids as strings)', CloseCode.BadToken)
      return
    }
    if (!isSpaceId(message.spaceId)) {
      this.#close(ErrorCode.UnknownSpace, 'unknown space', CloseCode.UnknownSpace)
      return
    }
    this.#state = 'joining'
    let outcome: Awaited<ReturnType<RoomManager['join']>>
    try {
      outcome = await this.#rooms.join(this, identity, message.spaceId)
    } catch (err) {
      this.#log.error({ err, spaceId: message.spaceId, userId: identity.userId }, 'Join failed')
      this.#socket.close(1011, 'internal error')
      return
    }
    // A take-over or a close may have ended this connection while the join was being resolved.
    if (outcome === 'gone' || (this.#state as State) === 'closed') return
    if (outcome === 'unknown-space') {
      this.#close(ErrorCode.UnknownSpace, `unknown space ${JSON.stringify(message.spaceId)}`, CloseCode.UnknownSpace)
      return
    }
    if (outcome === 'too-many-spaces') {
      this.#close(ErrorCode.RateLimited, 'this user is in too many spaces at once', CloseCode.TooManyMessages)
      return
    }
    this.#member = outcome
    this.#state = 'joined'
    this.#everJoined = true
    clearTimeout(this.#joinTimer)
    this.#handleHeld()
  }

  /**
   * The frames that came while a join was resolved, in order, whatever state each leaves the
   * connection in: a `leave` then a `join` among them starts that join, and what follows it waits
   * for it in turn.
   */
  #handleHeld (): void {
    while (this.#held.length > 0 && this.#state !== 'joining' && this.#state !== 'closed') {
      this.#handle(this.#held.shift() as string)
    }
  }

  /**
   * A frame we will not act on. Before the first successful join it closes the socket (1008); after
   * it, plaza.v1 is told why and the socket stays open (metaverse hears nothing).
   */
  #refuse (code: ErrorCode, message: string): void {
    if (this.#everJoined) this.tell({ kind: 'error', code, message })
    else this.#close(code, message, CloseCode.ProtocolViolation)
  }

  /** Tells the client why (plaza.v1) and closes; the close handler turns a member into a ghost. */
  #close (code: ErrorCode, message: string, closeCode: number): void {
    if (this.#state === 'closed') return
    this.tell({ kind: 'error', code, message, close: closeCode })
    this.#state = 'closed'
    this.#socket.close(closeCode, closeReason(message))
    this.#onClose()
  }

  #armJoinTimeout (): void {
    clearTimeout(this.#joinTimer)
    this.#joinTimer = setTimeout(() => {
      if (this.#state === 'idle') this.#close(ErrorCode.NotJoined, `no "join" within ${this.#joinTimeoutMs} ms`, CloseCode.ProtocolViolation)
    }, this.#joinTimeoutMs)
  }

  #onClose (): void {
    this.#state = 'closed'
    clearTimeout(this.#joinTimer)
    this.#held = []
    const member = this.#member
    this.#member = undefined
    if (member !== undefined) this.#rooms.drop(member, this)
  }
}
