/**
 * The users of a load run and what happens to them as their sockets open, frames arrive and sockets
 * close: who joined or failed, and every move received, matched to its send. The phases in
 * bench/load.ts drive it in time; this file only keeps count.
 *
 * Every peer matches its k-th move received from user u to u's k-th move sent, checking the target
 * tile, and so measures the time from the sender's `send` to the peer's receipt, on one clock. Chats
 * (with a chat interval) are matched the same way, apart from moves: each text carries its number.
 */
import { performance } from 'node:perf_hooks'
import type { LoadOptions } from './load.js'
import { ChatReader, chatNumber, chatText } from './chat-reader.js'
import { MoveReader } from './move-reader.js'
import type { RawWebSocket } from './ws-client.js'

export class User {
  readonly index: number
  readonly userId: string
  readonly space: number
  /** Position in the space's member list. */
  readonly slot: number
  socket: RawWebSocket | undefined
  joined = false
  failed = false
  closing = false
  awaitingClose = false
  joinSentAt = 0
  joinedAt = 0
  /** Holds one of the storm's places in flight (connectConcurrency or joinConcurrency). */
  holding = false
  /** Other users of the space who joined: the recipients of each of this user's moves. */
  peers = 0
  // The walk: between A and B, currently at A when atA.
  ax = 0
  ay = 0
  bx = 0
  by = 0
  atA = true
  frameA = Buffer.alloc(0)
  frameB = Buffer.alloc(0)
  timer: NodeJS.Timeout | undefined
  // Every move sent: when (performance.now()) and where to.
  sent = 0
  sentInWindow = 0
  sendTimes: Float64Array
  sendX: Int16Array
  sendY: Int16Array
  rejectedInWindow = 0
  /** Moves received from each other member of the space, by their slot. */
  received: Int32Array
  // Chats: when each was sent; the number each member's next chat should carry, by their slot (this user's own included).
  chatTimer: NodeJS.Timeout | undefined
  chatsSent = 0
  chatsSentInWindow = 0
  chatsRefusedInWindow = 0
  chatSendTimes: Float64Array
  chatsReceived: Int32Array

  constructor (index: number, userId: string, space: number, slot: number, spaceSize: number, capacity: number, chatCapacity: number) {
    this.index = index
    this.userId = userId
    this.space = space
    this.slot = slot
    this.sendTimes = new Float64Array(capacity)
    this.sendX = new Int16Array(capacity)
    this.sendY = new Int16Array(capacity)
    this.received = new Int32Array(spaceSize)
    this.chatSendTimes = new Float64Array(chatCapacity)
    this.chatsReceived = new Int32Array(chatCapacity > 0 ? spaceSize : 0)
  }

  /** Sends this user's next chat, its number at the start of its text, and notes when. */
  chat (socket: RawWebSocket, now: number, inWindow: boolean): void {
    if (this.chatsSent === this.chatSendTimes.length) {
      const bigger = new Float64Array(this.chatSendTimes.length * 2 + 8)
      bigger.set(this.chatSendTimes)
      this.chatSendTimes = bigger
    }
    const k = this.chatsSent++
    this.chatSendTimes[k] = now
    if (inWindow) this.chatsSentInWindow++
    socket.send(JSON.stringify({ type: 'chat', payload: { text: chatText(this.index, k) } }))
  }

  setWalk (x: number, y: number, width: number, height: number): void {
    this.ax = x
    this.ay = y
    // A neighbour inside the space: right, else left, else down, else up.
    if (x + 1 < width) this.bx = x + 1
    else if (x - 1 >= 0) this.bx = x - 1
    else this.bx = x
    this.by = y
    if (this.bx === x) this.by = y + 1 < height ? y + 1 : y - 1
    this.atA = true
    // Each move is one of two frames, encoded once.
    this.frameA = Buffer.from(`{"type":"move","payload":{"x":${this.ax},"y":${this.ay}}}`)
    this.frameB = Buffer.from(`{"type":"move","payload":{"x":${this.bx},"y":${this.by}}}`)
  }

  /** Sends the walk's next move over `socket` and notes when and where to. */
  move (socket: RawWebSocket, now: number, inWindow: boolean): void {
    if (this.sent === this.sendTimes.length) this.#grow()
    const k = this.sent++
    this.sendTimes[k] = now
    if (inWindow) this.sentInWindow++
    if (this.atA) {
      this.sendX[k] = this.bx
      this.sendY[k] = this.by
      socket.send(this.frameB)
    } else {
      this.sendX[k] = this.ax
      this.sendY[k] = this.ay
      socket.send(this.frameA)
    }
    this.atA = !this.atA
  }

  #grow (): void {
    const grow = <T extends Float64Array | Int16Array>(a: T, make: (n: number) => T): T => {
      const b = make(a.length * 2)
      b.set(a)
      return b
    }
    this.sendTimes = grow(this.sendTimes, (n) => new Float64Array(n))
    this.sendX = grow(this.sendX, (n) => new Int16Array(n))
    this.sendY = grow(this.sendY, (n) => new Int16Array(n))
  }
}

export class Crowd {
  readonly options: LoadOptions
  readonly users: User[] = []
  /** The users of each space. */
  readonly members: User[][]
  readonly tokens: string[]
  readonly walking: boolean
  /** Users wait for each other's space-joined (joinConcurrency), not only for their socket to open. */
  readonly joinsWait: boolean
  /** Users between their connect and their socket's opening (or space-joined, when joins wait) at most. */
  readonly inFlightLimit: number
  inFlight = 0
  /** Called when a user gives its place in flight up, for the next one to connect. */
  onPlaceFreed: () => void = () => {}
  /** Called when a socket we closed has closed. */
  onClosedByUs: () => void = () => {}

  // The join storm.
  joined = 0
  failed = 0
  lastJoinedAt = 0
  /** Users between their connect and their space-joined or failure, now and at most. */
  joining = 0
  joiningAtOnceMax = 0
  /** Settles once every user joined or failed. */
  readonly allJoined: Promise<void>
  #onJoinProgress: () => void = () => {}

  // Moves received: counted when sent in the window [winStart, winEnd).
  winStart = Number.POSITIVE_INFINITY
  winEnd = Number.POSITIVE_INFINITY
  latencies: Float32Array
  samples = 0
  delivered = 0
  mismatched = 0
  unexpectedCloses = 0
  readonly closeCodes: Record<string, number> = {}
  errors = 0
  // Chats received: counted when sent in the window, like moves.
  readonly chatting: boolean
  chatLatencies: Float32Array
  chatSamples = 0
  chatsDelivered = 0
  /** A chat received out of its sender's order (a gap: one lost or refused before it), or from nobody known. */
  chatsUnmatched = 0
  /** A chat received a second time (or after a later one of the same sender). */
  chatsDuplicated = 0

  readonly #log: (line: string) => void
  readonly #moves: MoveReader
  readonly #chats: ChatReader | undefined
  readonly #movedType: string
  readonly #rejectedType: string

  constructor (options: LoadOptions) {
    const { users: n, spaces: s, hz } = options
    this.options = options
    this.#log = options.log ?? (() => {})
    const spaceSize = Math.ceil(n / s)
    this.walking = hz > 0 && options.durationS > 0
    this.joinsWait = (options.joinConcurrency ?? 0) > 0
    this.inFlightLimit = this.joinsWait ? (options.joinConcurrency as number) : options.connectConcurrency
    const capacity = this.walking ? Math.ceil((options.warmupS + options.durationS + 2) * hz * 1.25) + 16 : 1
    const chatEveryS = options.chatEveryS ?? 0
    this.chatting = this.walking && chatEveryS > 0
    const chatCapacity = this.chatting ? Math.ceil((options.warmupS + options.durationS + 2) / chatEveryS * 1.25) + 4 : 0
    this.members = Array.from({ length: s }, () => [])
    for (let i = 0; i < n; i++) {
      const space = i % s
      const user = new User(i, `${options.userIdPrefix}${i}`, space, Math.floor(i / s), spaceSize, capacity, chatCapacity)
      this.users.push(user)
      this.members[space]?.push(user)
    }
    this.tokens = this.users.map((u) => options.token(u.userId))
    // One preallocated array for every latency, grown only if the estimate falls short.
    this.latencies = new Float32Array(this.walking ? Math.ceil(n * hz * (options.durationS + 1) * Math.max(1, spaceSize - 1) * 1.1) + 1024 : 1)
    this.#movedType = options.dialect === 'plaza.v1' ? 'user-moved' : 'movement'
    this.#rejectedType = options.dialect === 'plaza.v1' ? 'move-rejected' : 'movement-rejected'
    this.#moves = new MoveReader(this.#movedType, options.userIdPrefix)
    this.#chats = this.chatting ? new ChatReader(options.userIdPrefix) : undefined
    this.chatLatencies = new Float32Array(this.chatting ? Math.ceil(n * (options.durationS + 1) / chatEveryS * spaceSize * 1.1) + 1024 : 1)
    this.allJoined = new Promise<void>((resolve) => {
      this.#onJoinProgress = () => { if (this.joined + this.failed >= n) resolve() }
    })
  }

  /** The user takes a place in flight. */
  hold (user: User): void {
    this.inFlight++
    user.holding = true
    this.joiningAtOnceMax = Math.max(this.joiningAtOnceMax, ++this.joining)
  }

  /** The user's place in flight goes to the next user. */
  release (user: User): void {
    if (!user.holding) return
    user.holding = false
    this.inFlight--
    this.onPlaceFreed()
  }

  fail (user: User): void {
    if (user.failed || user.joined) return
    user.failed = true
    this.failed++
    this.joining--
    this.#onJoinProgress()
  }

  /** The socket could not open, or broke. */
  lost (user: User, err: Error): void {
    if (this.failed < 5) this.#log(`${user.userId}: ${err.message}`)
    // Failed before released: the next user's connect must not find this one still joining.
    this.fail(user)
    this.release(user)
  }

  closed (user: User, code: number): void {
    if (user.timer !== undefined) clearInterval(user.timer)
    if (user.chatTimer !== undefined) clearInterval(user.chatTimer)
    if (user.closing) {
      if (user.awaitingClose) this.onClosedByUs()
      user.awaitingClose = false
    } else {
      this.unexpectedCloses++
      this.closeCodes[code] = (this.closeCodes[code] ?? 0) + 1
      if (this.unexpectedCloses <= 5) this.#log(`${user.userId}: closed by the server, ${code}`)
      this.fail(user)
    }
    this.release(user)
  }

  /** A text frame to `user`: buf[start, end), received at `now`. */
  onFrame (user: User, buf: Buffer, start: number, end: number, now: number): void {
    const moves = this.#moves
    if (moves.read(buf, start, end)) {
      this.#onMove(user, this.users[moves.index], moves.x, moves.y, now)
      return
    }
    const chats = this.#chats
    if (chats?.read(buf, start, end) === true) {
      this.#onChat(user, this.users[chats.index], chats.k, now)
      return
    }
    let frame: { type?: unknown, payload?: Record<string, unknown> }
    try {
      frame = JSON.parse(buf.toString('utf8', start, end))
    } catch {
      this.errors++
      return
    }
    const payload = frame.payload ?? {}
    switch (frame.type) {
      case this.#movedType:
        this.#onMove(user, this.#userOf(payload.userId), Number(payload.x), Number(payload.y), now)
        break
      case 'space-joined':
        this.#onJoined(user, payload, now)
        break
      case this.#rejectedType:
        this.#onRejected(user, payload)
        break
      case 'chat-message':
        if (this.chatting) this.#onChat(user, this.#userOf(payload.userId), chatNumber(payload.text), now)
        break
      case 'error':
        // Only a chat can be rate-limited in this load (a refused move gets move-rejected).
        if (payload.code === 'rate-limited' && performance.now() >= this.winStart) user.chatsRefusedInWindow++
        this.errors++
        if (this.errors <= 5) this.#log(`error frame to ${user.userId}: ${JSON.stringify(payload)}`)
        // Before space-joined, the join was refused (PROTOCOL: the socket closes too).
        if (!user.joined) {
          this.fail(user)
          this.release(user)
        }
        break
    }
  }

  /** Broadcasts the window's moves should have made: each accepted move once per peer of its sender. */
  expected (): number {
    let total = 0
    for (const user of this.users) total += Math.max(0, user.sentInWindow - user.rejectedInWindow) * user.peers
    return total
  }

  /** Chat deliveries the window's chats should have made: each accepted chat once to everyone in its space, the sender included. */
  chatsExpected (): number {
    let total = 0
    for (const user of this.users) total += Math.max(0, user.chatsSentInWindow - user.chatsRefusedInWindow) * (user.joined ? user.peers + 1 : 0)
    return total
  }

  #userOf (userId: unknown): User | undefined {
    const prefix = this.options.userIdPrefix
    if (typeof userId !== 'string' || !userId.startsWith(prefix)) return undefined
    const index = Number(userId.slice(prefix.length))
    return Number.isInteger(index) ? this.users[index] : undefined
  }

  #onMove (receiver: User, sender: User | undefined, x: number, y: number, now: number): void {
    if (sender === undefined || sender.space !== receiver.space) {
      this.mismatched++
      return
    }
    let k = receiver.received[sender.slot] as number
    if (k >= sender.sent || sender.sendX[k] !== x || sender.sendY[k] !== y) {
      // A move in between was lost or refused: find this one a few sends further on.
      this.mismatched++
      let found = -1
      for (let j = k + 1; j < Math.min(sender.sent, k + 8); j++) {
        if (sender.sendX[j] === x && sender.sendY[j] === y) {
          found = j
          break
        }
      }
      if (found === -1) return
      k = found
    }
    receiver.received[sender.slot] = k + 1
    const sentAt = sender.sendTimes[k] as number
    if (sentAt >= this.winStart && sentAt < this.winEnd) {
      this.delivered++
      this.latencies = roomFor(this.latencies, this.samples)
      this.latencies[this.samples++] = now - sentAt
    }
  }

  #onChat (receiver: User, sender: User | undefined, k: number, now: number): void {
    if (sender === undefined || sender.space !== receiver.space || k < 0 || k >= sender.chatsSent) {
      this.chatsUnmatched++
      return
    }
    const next = receiver.chatsReceived[sender.slot] as number
    if (k < next) {
      this.chatsDuplicated++
      return
    }
    if (k > next) this.chatsUnmatched++
    receiver.chatsReceived[sender.slot] = k + 1
    const sentAt = sender.chatSendTimes[k] as number
    if (sentAt >= this.winStart && sentAt < this.winEnd) {
      this.chatsDelivered++
      this.chatLatencies = roomFor(this.chatLatencies, this.chatSamples)
      this.chatLatencies[this.chatSamples++] = now - sentAt
    }
  }

  #onJoined (user: User, payload: Record<string, unknown>, now: number): void {
    if (user.joined || user.failed) return
    const spawn = payload.spawn as { x?: unknown, y?: unknown } | undefined
    const space = payload.space as { width?: unknown, height?: unknown } | undefined
    const width = typeof space?.width === 'number' ? space.width : this.options.spaceWidth
    const height = typeof space?.height === 'number' ? space.height : this.options.spaceHeight
    user.setWalk(Number(spawn?.x), Number(spawn?.y), width, height)
    user.joined = true
    user.joinedAt = now
    this.lastJoinedAt = now
    this.joined++
    this.joining--
    this.#onJoinProgress()
    if (this.joinsWait) this.release(user)
  }

  #onRejected (user: User, payload: Record<string, unknown>): void {
    if (performance.now() >= this.winStart) user.rejectedInWindow++
    // The server says where the user stands: walk on from there.
    const x = Number(payload.x)
    const y = Number(payload.y)
    if (x === user.ax && y === user.ay) user.atA = true
    else if (x === user.bx && y === user.by) user.atA = false
    else if (Number.isInteger(x) && Number.isInteger(y)) user.setWalk(x, y, this.options.spaceWidth, this.options.spaceHeight)
  }
}

/** `latencies`, or a copy of it twice as long when its `samples` fill it: the estimate fell short. */
function roomFor (latencies: Float32Array, samples: number): Float32Array {
  if (samples < latencies.length) return latencies
  const bigger = new Float32Array(latencies.length * 2)
  bigger.set(latencies)
  return bigger
}
