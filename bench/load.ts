/**
 * The load generator: many WebSocket clients in one process, speaking PROTOCOL.md (plaza.v1 or
 * metaverse), so that it can be pointed at Plaza, at the bare baseline in bench/, or at any other
 * server of the contract.
 *
 * U users join S spaces (user i goes to space i mod S), all at once (the join storm: from the first
 * connect to the last `space-joined`); then each walks at H moves/s, back and forth between its spawn
 * and a neighbouring tile, starting at a random phase. Every peer matches its k-th move received
 * from user u to u's k-th move sent, checking the target tile, and so measures what a user feels:
 * the time from the sender's `send` to the peer's receipt, in one process, on one clock.
 *
 *   npx tsx bench/load.ts --url ws://127.0.0.1:3000/ws --secret $JWT_SECRET --users 200 --spaces 10 --hz 10 --duration 20
 *
 * Written to stay out of the server's way on a shared machine: a move is one of two precomputed
 * strings, a received move is read from the bytes without JSON.parse (anything not in the expected
 * shape falls back to JSON.parse), and latencies go into one preallocated Float32Array.
 */
import { resolve } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { RawWebSocket } from './ws-client.js'

export type Dialect = 'plaza.v1' | 'metaverse'

export interface LoadHooks {
  /** Right before the first connect. */
  joinStart?: () => unknown
  /** Once every user joined (or failed to). */
  joinEnd?: () => unknown
  /** At the start of the measured window (after the warm-up). Not awaited: the walk goes on. */
  measureStart?: () => unknown
  /** At the end of the measured window, before the drain. Not awaited: the walk stops. */
  measureEnd?: () => unknown
}

export interface LoadOptions {
  /** The WebSocket endpoint, e.g. ws://127.0.0.1:3000/ws. */
  url: string
  dialect: Dialect
  users: number
  spaces: number
  /** The id of space i (0 ≤ i < spaces). */
  spaceId?: (index: number) => string
  /** Moves per second per user; 0: join only (a join-storm run). */
  hz: number
  /** Seconds of walking before the measured window (not counted). */
  warmupS: number
  /** Seconds of the measured window. */
  durationS: number
  /** Seconds to wait, after the window, for moves still on their way. */
  drainS: number
  /** The join token of a user. */
  token: (userId: string) => string
  /** User ids are this prefix and the user's index. */
  userIdPrefix: string
  /** Space size when the server does not say (metaverse's space-joined has none). */
  spaceWidth: number
  spaceHeight: number
  /** WebSocket handshakes in flight at once. */
  connectConcurrency: number
  /**
   * When set (> 0), joins wait for each other instead: at most this many users between their connect
   * and their space-joined, each next user connecting when one is in (a client that joins its users
   * one after another, or a few at a time). connectConcurrency is then unused.
   */
  joinConcurrency?: number
  /** Seconds to wait for every space-joined. */
  joinTimeoutS: number
  /**
   * With a loopback target, clients are spread over source addresses 127.0.x.y, this many per
   * address, so that a server's per-address connection limit (Plaza: 64) is not what is measured.
   * 0: every client from the default address.
   */
  perAddress: number
  hooks?: LoadHooks
  log?: (line: string) => void
}

export interface Percentiles { p50: number, p95: number, p99: number, max: number, samples: number }

export interface LoadResult {
  users: number
  spaces: number
  joined: number
  joinFailures: number
  /** The most users that were between their connect and their space-joined (or failure) at once. */
  joiningAtOnceMax: number
  /** First connect → last space-joined, ms. */
  joinStormMs: number
  /** Per user, join sent → space-joined, ms. */
  joinLatencyMs: Percentiles
  /** Length of the measured window, s. */
  windowS: number
  /** Moves sent in the window; refused (move-rejected received in the window); accepted = sent − rejected. */
  moves: { sent: number, rejected: number, accepted: number, perS: number }
  /** Moves sent in the window, as received by peers (matched), and as many as there should be. */
  broadcasts: { delivered: number, expected: number }
  /** Move → peer latency of the moves sent in the window, ms. */
  latencyMs: Percentiles
  /** Received moves that did not match the sender's next send (a lost, reordered or refused move). */
  mismatched: number
  /** Sockets that closed without being asked to, with their close codes. */
  unexpectedCloses: number
  closeCodes: Record<string, number>
  /** `error` frames received (plaza.v1). */
  errors: number
  /** The generator itself: CPU use (% of one core) and event-loop lag p99 (ms) in the window. */
  generator: { cpuPct: number, lagP99Ms: number }
}

const LAG_RESOLUTION_MS = 10

class User {
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

  constructor (index: number, userId: string, space: number, slot: number, spaceSize: number, capacity: number) {
    this.index = index
    this.userId = userId
    this.space = space
    this.slot = slot
    this.sendTimes = new Float64Array(capacity)
    this.sendX = new Int16Array(capacity)
    this.sendY = new Int16Array(capacity)
    this.received = new Int32Array(spaceSize)
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
    this.frameA = Buffer.from(`{"type":"move","payload":{"x":${this.ax},"y":${this.ay}}}`)
    this.frameB = Buffer.from(`{"type":"move","payload":{"x":${this.bx},"y":${this.by}}}`)
  }

  grow (): void {
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

function percentiles (values: Float32Array | Float64Array, n: number): Percentiles {
  if (n === 0) return { p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, max: Number.NaN, samples: 0 }
  const sorted = values.subarray(0, n).sort()
  const at = (q: number): number => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] as number
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted[n - 1] as number, samples: n }
}

function isLoopback (url: string): boolean {
  const host = new URL(url).hostname
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]'
}

/** The n-th spare loopback source address: 127.0.1.1, 127.0.1.2, … (127.0.0.1 is left alone). */
export function loopbackAddress (n: number): string {
  return `127.0.${1 + Math.floor(n / 254)}.${1 + (n % 254)}`
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const { users: n, spaces: s, hz, dialect } = options
  const log = options.log ?? (() => {})
  const hooks = options.hooks ?? {}
  const spaceId = options.spaceId ?? ((i: number) => `bench-${i}`)
  const spaceSize = Math.ceil(n / s)
  const walking = hz > 0 && options.durationS > 0
  const capacity = walking ? Math.ceil((options.warmupS + options.durationS + 2) * hz * 1.25) + 16 : 1
  const spread = options.perAddress > 0 && isLoopback(options.url)
  const joinsWait = (options.joinConcurrency ?? 0) > 0
  const inFlightLimit = joinsWait ? (options.joinConcurrency as number) : options.connectConcurrency

  const users: User[] = []
  const members: User[][] = Array.from({ length: s }, () => [])
  for (let i = 0; i < n; i++) {
    const space = i % s
    const user = new User(i, `${options.userIdPrefix}${i}`, space, Math.floor(i / s), spaceSize, capacity)
    users.push(user)
    members[space]?.push(user)
  }
  const tokens = users.map((u) => options.token(u.userId))

  // What the receive path counts.
  let winStart = Number.POSITIVE_INFINITY
  let winEnd = Number.POSITIVE_INFINITY
  const expectedSamples = walking ? Math.ceil(n * hz * (options.durationS + 1) * Math.max(1, spaceSize - 1) * 1.1) + 1024 : 1
  let latencies = new Float32Array(expectedSamples)
  let samples = 0
  let delivered = 0
  let mismatched = 0
  let unexpectedCloses = 0
  let errors = 0
  const closeCodes: Record<string, number> = {}
  let joined = 0
  let failed = 0
  let lastJoinedAt = 0
  let onJoinProgress: () => void = () => {}
  let onClosedByUs: () => void = () => {}
  let warnedProtocol = false

  const idPrefix = Buffer.from(options.userIdPrefix)
  const movedType = dialect === 'plaza.v1' ? 'user-moved' : 'movement'
  const rejectedType = dialect === 'plaza.v1' ? 'move-rejected' : 'movement-rejected'
  const fastHead = Buffer.from(`{"type":"${movedType}","payload":{"userId":"`)
  const fastX = Buffer.from(',"x":')
  const fastY = Buffer.from(',"y":')

  const userOf = (userId: unknown): User | undefined => {
    if (typeof userId !== 'string' || !userId.startsWith(options.userIdPrefix)) return undefined
    const index = Number(userId.slice(options.userIdPrefix.length))
    return Number.isInteger(index) ? users[index] : undefined
  }

  const onMove = (receiver: User, sender: User | undefined, x: number, y: number, now: number): void => {
    if (sender === undefined || sender.space !== receiver.space) {
      mismatched++
      return
    }
    let k = receiver.received[sender.slot] as number
    if (k >= sender.sent || sender.sendX[k] !== x || sender.sendY[k] !== y) {
      // A move in between was lost or refused: find this one a few sends further on.
      mismatched++
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
    if (sentAt >= winStart && sentAt < winEnd) {
      delivered++
      if (samples === latencies.length) {
        const bigger = new Float32Array(latencies.length * 2)
        bigger.set(latencies)
        latencies = bigger
      }
      latencies[samples++] = now - sentAt
    }
  }

  /** True when buf[at, at + needle.length) is needle. */
  const matches = (buf: Buffer, at: number, end: number, needle: Buffer): boolean => {
    const n = needle.length
    if (at + n > end) return false
    for (let j = 0; j < n; j++) if (buf[at + j] !== needle[j]) return false
    return true
  }

  /**
   * Reads `{"type":"<moved>","payload":{"userId":"<prefix><digits>","x":<int>,"y":<int>}}` from the
   * bytes buf[start, end); false when the frame is not exactly that (JSON.parse then reads it).
   */
  const fastMove = (receiver: User, buf: Buffer, start: number, end: number, now: number): boolean => {
    let i = start
    if (!matches(buf, i, end, fastHead)) return false
    i += fastHead.length
    if (!matches(buf, i, end, idPrefix)) return false
    i += idPrefix.length
    let index = 0
    let digits = 0
    for (; i < end; i++) {
      const c = buf[i] as number
      if (c === 0x22) break
      if (c < 0x30 || c > 0x39) return false
      index = index * 10 + (c - 0x30)
      digits++
    }
    if (digits === 0 || i >= end) return false
    i++
    if (!matches(buf, i, end, fastX)) return false
    i += fastX.length
    let x = 0
    let negative = false
    if (buf[i] === 0x2d) { negative = true; i++ }
    digits = 0
    for (; i < end; i++) {
      const c = buf[i] as number
      if (c < 0x30 || c > 0x39) break
      x = x * 10 + (c - 0x30)
      digits++
    }
    if (digits === 0) return false
    if (negative) x = -x
    if (!matches(buf, i, end, fastY)) return false
    i += fastY.length
    let y = 0
    negative = false
    if (buf[i] === 0x2d) { negative = true; i++ }
    digits = 0
    for (; i < end; i++) {
      const c = buf[i] as number
      if (c < 0x30 || c > 0x39) break
      y = y * 10 + (c - 0x30)
      digits++
    }
    if (digits === 0 || buf[i] !== 0x7d) return false
    if (negative) y = -y
    onMove(receiver, users[index], x, y, now)
    return true
  }

  const onJoined = (user: User, payload: Record<string, unknown>, now: number): void => {
    if (user.joined || user.failed) return
    const spawn = payload.spawn as { x?: unknown, y?: unknown } | undefined
    const space = payload.space as { width?: unknown, height?: unknown } | undefined
    const width = typeof space?.width === 'number' ? space.width : options.spaceWidth
    const height = typeof space?.height === 'number' ? space.height : options.spaceHeight
    user.setWalk(Number(spawn?.x), Number(spawn?.y), width, height)
    user.joined = true
    user.joinedAt = now
    lastJoinedAt = now
    joined++
    joining--
    onJoinProgress()
    if (joinsWait) release(user)
  }

  const onRejected = (user: User, payload: Record<string, unknown>): void => {
    if (performance.now() >= winStart) user.rejectedInWindow++
    // The server says where the user stands: walk on from there.
    const x = Number(payload.x)
    const y = Number(payload.y)
    if (x === user.ax && y === user.ay) user.atA = true
    else if (x === user.bx && y === user.by) user.atA = false
    else if (Number.isInteger(x) && Number.isInteger(y)) user.setWalk(x, y, options.spaceWidth, options.spaceHeight)
  }

  const onFrame = (user: User, buf: Buffer, start: number, end: number, now: number): void => {
    if (fastMove(user, buf, start, end, now)) return
    let frame: { type?: unknown, payload?: Record<string, unknown> }
    try {
      frame = JSON.parse(buf.toString('utf8', start, end))
    } catch {
      errors++
      return
    }
    const payload = frame.payload ?? {}
    switch (frame.type) {
      case movedType:
        onMove(user, userOf(payload.userId), Number(payload.x), Number(payload.y), now)
        break
      case 'space-joined':
        onJoined(user, payload, now)
        break
      case rejectedType:
        onRejected(user, payload)
        break
      case 'error':
        errors++
        if (errors <= 5) log(`error frame to ${user.userId}: ${JSON.stringify(payload)}`)
        // Before space-joined, the join was refused (PROTOCOL: the socket closes too).
        if (!user.joined) {
          fail(user)
          release(user)
        }
        break
    }
  }

  const fail = (user: User): void => {
    if (user.failed || user.joined) return
    user.failed = true
    failed++
    joining--
    onJoinProgress()
  }

  /** Runs a hook without stopping the walk; a failure is logged (its figures stay missing), never thrown. */
  const runHook = (hook: (() => unknown) | undefined, name: string): Promise<void> =>
    Promise.resolve().then(() => hook?.()).then(() => {}, (err: unknown) => log(`${name} failed: ${(err as Error).message}`))

  // The join storm.
  const allJoined = new Promise<void>((resolve) => {
    onJoinProgress = () => { if (joined + failed >= n) resolve() }
  })
  let next = 0
  let inFlight = 0
  /** Users between their connect and their space-joined or failure, now and at most. */
  let joining = 0
  let joiningAtOnceMax = 0
  const launch = (): void => {
    while (inFlight < inFlightLimit && next < n) open(users[next++] as User)
  }
  /** The user's place in flight goes to the next user. */
  function release (user: User): void {
    if (!user.holding) return
    user.holding = false
    inFlight--
    launch()
  }
  const open = (user: User): void => {
    inFlight++
    user.holding = true
    joiningAtOnceMax = Math.max(joiningAtOnceMax, ++joining)
    user.socket = new RawWebSocket(options.url, {
      protocol: dialect,
      handshakeTimeoutMs: options.joinTimeoutS * 1000,
      ...(spread ? { localAddress: loopbackAddress(Math.floor(user.index / options.perAddress)) } : {})
    }, {
      onOpen: () => {
        if (!joinsWait) release(user)
        const socket = user.socket as RawWebSocket
        if (socket.protocol !== dialect && !warnedProtocol) {
          warnedProtocol = true
          log(`the server chose subprotocol "${socket.protocol}" for ${dialect}`)
        }
        user.joinSentAt = performance.now()
        socket.send(JSON.stringify({ type: 'join', payload: { spaceId: spaceId(user.space), token: tokens[user.index] } }))
      },
      onText: (buf, start, end, now) => onFrame(user, buf, start, end, now),
      // Failed before released: the next user's connect must not find this one still joining.
      onError: (err) => {
        if (failed < 5) log(`${user.userId}: ${err.message}`)
        fail(user)
        release(user)
      },
      onClose: (code) => {
        if (user.timer !== undefined) clearInterval(user.timer)
        if (user.closing) {
          if (user.awaitingClose) onClosedByUs()
          user.awaitingClose = false
        } else {
          unexpectedCloses++
          closeCodes[code] = (closeCodes[code] ?? 0) + 1
          if (unexpectedCloses <= 5) log(`${user.userId}: closed by the server, ${code}`)
          fail(user)
        }
        release(user)
      }
    })
  }

  await runHook(hooks.joinStart, 'joinStart')
  const joinStart = performance.now()
  launch()
  let joinTimer: NodeJS.Timeout | undefined
  const joinDeadline = new Promise<'timeout'>((resolve) => { joinTimer = setTimeout(resolve, options.joinTimeoutS * 1000, 'timeout') })
  const outcome = await Promise.race([allJoined.then(() => 'ok' as const), joinDeadline])
  clearTimeout(joinTimer)
  if (outcome === 'timeout') log(`join timeout: ${joined} of ${n} joined, ${failed} failed`)
  const joinStormMs = lastJoinedAt > 0 ? lastJoinedAt - joinStart : Number.NaN
  await runHook(hooks.joinEnd, 'joinEnd')
  const joinLatencies = new Float64Array(n)
  let joinCount = 0
  for (const user of users) if (user.joined) joinLatencies[joinCount++] = user.joinedAt - user.joinSentAt
  for (const group of members) {
    const present = group.filter((u) => u.joined).length
    for (const user of group) user.peers = user.joined ? present - 1 : 0
  }

  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  let cpuStart = process.cpuUsage()
  let cpuPct = Number.NaN
  let lagP99Ms = Number.NaN
  const pendingHooks: Array<Promise<unknown>> = []
  let windowS = 0

  if (walking) {
    const period = 1000 / hz
    let stopped = false
    const step = (user: User): void => {
      const socket = user.socket
      if (stopped || socket === undefined || !socket.isOpen) return
      if (user.sent === user.sendTimes.length) user.grow()
      const k = user.sent++
      const now = performance.now()
      user.sendTimes[k] = now
      if (now >= winStart) user.sentInWindow++
      if (user.atA) {
        user.sendX[k] = user.bx
        user.sendY[k] = user.by
        socket.send(user.frameB)
      } else {
        user.sendX[k] = user.ax
        user.sendY[k] = user.ay
        socket.send(user.frameA)
      }
      user.atA = !user.atA
    }
    const starters: NodeJS.Timeout[] = []
    for (const user of users) {
      if (!user.joined) continue
      starters.push(setTimeout(() => {
        step(user)
        user.timer = setInterval(step, period, user)
      }, Math.random() * period))
    }
    lag.enable()
    await sleep(options.warmupS * 1000)
    winStart = performance.now()
    cpuStart = process.cpuUsage()
    lag.reset()
    pendingHooks.push(runHook(hooks.measureStart, 'measureStart'))
    await sleep(options.durationS * 1000)
    stopped = true
    winEnd = performance.now()
    for (const t of starters) clearTimeout(t)
    for (const user of users) if (user.timer !== undefined) clearInterval(user.timer)
    windowS = (winEnd - winStart) / 1000
    const cpu = process.cpuUsage(cpuStart)
    cpuPct = (cpu.user + cpu.system) / 1000 / (winEnd - winStart) * 100
    lagP99Ms = Math.max(0, lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS)
    lag.disable()
    pendingHooks.push(runHook(hooks.measureEnd, 'measureEnd'))
  }

  const expected = (): number => {
    let total = 0
    for (const user of users) total += Math.max(0, user.sentInWindow - user.rejectedInWindow) * user.peers
    return total
  }
  if (walking) {
    const drainUntil = performance.now() + options.drainS * 1000
    while (delivered < expected() && performance.now() < drainUntil) await sleep(20)
  }
  await Promise.all(pendingHooks)

  // Done: close every socket, without waiting long for the server's answers.
  let stillOpen = 0
  const closed = new Promise<void>((resolve) => { onClosedByUs = () => { if (--stillOpen === 0) resolve() } })
  for (const user of users) {
    const socket = user.socket
    user.closing = true
    if (user.timer !== undefined) clearInterval(user.timer)
    if (socket === undefined || !socket.isOpen) {
      socket?.terminate()
      continue
    }
    stillOpen++
    user.awaitingClose = true
    socket.close(1000)
  }
  let closeTimer: NodeJS.Timeout | undefined
  if (stillOpen > 0) await Promise.race([closed, new Promise((resolve) => { closeTimer = setTimeout(resolve, 2000) })])
  clearTimeout(closeTimer)
  for (const user of users) user.socket?.terminate()

  let sent = 0
  let rejected = 0
  for (const user of users) {
    sent += user.sentInWindow
    rejected += user.rejectedInWindow
  }
  return {
    users: n,
    spaces: s,
    joined,
    joinFailures: failed,
    joiningAtOnceMax,
    joinStormMs,
    joinLatencyMs: percentiles(joinLatencies, joinCount),
    windowS,
    moves: { sent, rejected, accepted: sent - rejected, perS: windowS > 0 ? (sent - rejected) / windowS : 0 },
    broadcasts: { delivered, expected: expected() },
    latencyMs: percentiles(latencies, samples),
    mismatched,
    unexpectedCloses,
    closeCodes,
    errors,
    generator: { cpuPct, lagP99Ms }
  }
}

/** HS256 tokens `{userId}` signed with the server's secret. */
export function hs256Tokens (secret: string): (userId: string) => string {
  const sign = createSigner({ key: secret, algorithm: 'HS256' })
  return (userId) => sign({ userId })
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'ws://127.0.0.1:3000/ws' },
      secret: { type: 'string' },
      dialect: { type: 'string', default: 'plaza.v1' },
      users: { type: 'string', default: '100' },
      spaces: { type: 'string' },
      'space-size': { type: 'string', default: '20' },
      'space-prefix': { type: 'string', default: 'bench-' },
      hz: { type: 'string', default: '10' },
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '2' },
      width: { type: 'string', default: '20' },
      height: { type: 'string', default: '20' },
      'per-address': { type: 'string', default: '50' },
      'join-concurrency': { type: 'string', default: '0' }
    }
  })
  const joinConcurrency = Number(values['join-concurrency'])
  if (values.secret === undefined || !Number.isInteger(joinConcurrency) || joinConcurrency < 0) {
    process.stderr.write('usage: tsx bench/load.ts --url ws://HOST:PORT/ws --secret JWT_SECRET [--users 100] [--spaces N | --space-size 20] [--hz 10] [--duration 20] [--dialect plaza.v1|metaverse] [--join-concurrency K (an integer; 0: all at once)]\n')
    process.exit(2)
  }
  const users = Number(values.users)
  const result = await runLoad({
    url: values.url,
    dialect: values.dialect === 'metaverse' ? 'metaverse' : 'plaza.v1',
    users,
    spaces: values.spaces !== undefined ? Number(values.spaces) : Math.ceil(users / Number(values['space-size'])),
    spaceId: (i) => `${values['space-prefix']}${i}`,
    hz: Number(values.hz),
    warmupS: Number(values.warmup),
    durationS: Number(values.duration),
    drainS: 3,
    token: hs256Tokens(values.secret),
    userIdPrefix: `load${Math.random().toString(36).slice(2, 6)}_`,
    spaceWidth: Number(values.width),
    spaceHeight: Number(values.height),
    connectConcurrency: 200,
    joinConcurrency,
    joinTimeoutS: 60,
    perAddress: Number(values['per-address']),
    log: (line) => process.stderr.write(`${line}\n`)
  })
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
}
