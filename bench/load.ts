/**
 * The load generator: many WebSocket clients in one process, speaking PROTOCOL.md (plaza.v1 or
 * metaverse), so that it can be pointed at Plaza, at the bare baseline in bench/, or at any other
 * server of the contract. A run goes through its phases in turn:
 *
 * - connect: U users open their sockets, each joining space i mod S as soon as it is open, all at
 *   once (the join storm), a few handshakes at a time, or K users at a time with joinConcurrency;
 * - join: the storm ends when every user got its `space-joined` (or failed, or the time is up);
 * - walk: each user walks at H moves/s, back and forth between its spawn and a neighbouring tile,
 *   from a random phase, and with a chat interval sends a chat every so often, the users' chats
 *   spread evenly over the interval; after a warm-up, the measured window;
 * - drain: the walk has stopped; the window's moves still on their way arrive;
 * - disconnect, and the figures: what a user feels (each move's time from the sender's `send` to
 *   each peer's receipt, in one process, on one clock; see bench/crowd.ts) and what arrived.
 *
 *   npx tsx bench/load.ts --url ws://127.0.0.1:3000/ws --secret $JWT_SECRET --users 200 --spaces 10 --hz 10 --duration 20
 *
 * Written to stay out of the server's way on a shared machine: a move is one of two precomputed
 * frames, a received move or chat is read from the bytes without JSON.parse, and latencies go into
 * preallocated Float32Arrays (one for moves, one for chats).
 */
import { resolve } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { Crowd, type User } from './crowd.js'
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
  /** plaza.v1: while walking, each user also sends a chat every this many seconds; 0 or absent: no chat. */
  chatEveryS?: number
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
  /** With a chat interval: the window's chats, and their deliveries to everyone in the space, sender included. */
  chats?: ChatFigures
}

export interface ChatFigures {
  /** Chats sent in the window; refused (`rate-limited`); per second, of those not refused. */
  sent: number
  refused: number
  perS: number
  /** Chats sent in the window as received (each user's each message once), and as many as there should be. */
  delivered: number
  expected: number
  /** Chat → recipient latency of the chats sent in the window, ms. */
  latencyMs: Percentiles
  /** Received chats out of their sender's order (one before was lost), or of no known sender; received twice. */
  unmatched: number
  duplicated: number
}

const LAG_RESOLUTION_MS = 10

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

/** Runs a hook without stopping the load; a failure is logged (its figures stay missing), never thrown. */
const runHook = (hook: (() => unknown) | undefined, name: string, log: LoadOptions['log']): Promise<void> =>
  Promise.resolve().then(() => hook?.()).then(() => {}, (err: unknown) => log?.(`${name} failed: ${(err as Error).message}`))

export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const crowd = new Crowd(options)
  const hooks = options.hooks ?? {}
  const startedAt = await connect(crowd, hooks)
  const joins = await join(crowd, startedAt, hooks)
  const window = crowd.walking ? await walk(crowd, hooks) : { windowS: 0, cpuPct: Number.NaN, lagP99Ms: Number.NaN, hooks: [] }
  if (crowd.walking) await drain(crowd)
  await Promise.all(window.hooks)
  await disconnect(crowd)
  return figures(crowd, joins, window)
}

/**
 * Opens the users' sockets, each sending its join as soon as it is open: at most connectConcurrency
 * handshakes in flight, or with joinConcurrency at most that many users between their connect and
 * their space-joined. When the first connect began.
 */
async function connect (crowd: Crowd, hooks: LoadHooks): Promise<number> {
  const { options, users } = crowd
  const spread = options.perAddress > 0 && isLoopback(options.url)
  const spaceId = options.spaceId ?? ((i: number) => `bench-${i}`)
  let warnedProtocol = false
  const open = (user: User): void => {
    crowd.hold(user)
    user.socket = new RawWebSocket(options.url, {
      protocol: options.dialect,
      handshakeTimeoutMs: options.joinTimeoutS * 1000,
      ...(spread ? { localAddress: loopbackAddress(Math.floor(user.index / options.perAddress)) } : {})
    }, {
      onOpen: () => {
        if (!crowd.joinsWait) crowd.release(user)
        const socket = user.socket as RawWebSocket
        if (socket.protocol !== options.dialect && !warnedProtocol) {
          warnedProtocol = true
          options.log?.(`the server chose subprotocol "${socket.protocol}" for ${options.dialect}`)
        }
        user.joinSentAt = performance.now()
        socket.send(JSON.stringify({ type: 'join', payload: { spaceId: spaceId(user.space), token: crowd.tokens[user.index] } }))
      },
      onText: (buf, start, end, now) => crowd.onFrame(user, buf, start, end, now),
      onError: (err) => crowd.lost(user, err),
      onClose: (code) => crowd.closed(user, code)
    })
  }
  let next = 0
  crowd.onPlaceFreed = () => {
    while (crowd.inFlight < crowd.inFlightLimit && next < users.length) open(users[next++] as User)
  }
  await runHook(hooks.joinStart, 'joinStart', options.log)
  const startedAt = performance.now()
  crowd.onPlaceFreed()
  return startedAt
}

interface JoinFigures {
  /** First connect → last space-joined, ms. */
  stormMs: number
  latencyMs: Percentiles
}

/** Waits, at most joinTimeoutS, for every user's space-joined or failure; then each user's peers are known. */
async function join (crowd: Crowd, startedAt: number, hooks: LoadHooks): Promise<JoinFigures> {
  const { options, users } = crowd
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<'timeout'>((resolve) => { timer = setTimeout(resolve, options.joinTimeoutS * 1000, 'timeout') })
  const outcome = await Promise.race([crowd.allJoined.then(() => 'ok' as const), deadline])
  clearTimeout(timer)
  if (outcome === 'timeout') options.log?.(`join timeout: ${crowd.joined} of ${users.length} joined, ${crowd.failed} failed`)
  const stormMs = crowd.lastJoinedAt > 0 ? crowd.lastJoinedAt - startedAt : Number.NaN
  await runHook(hooks.joinEnd, 'joinEnd', options.log)
  const latencies = new Float64Array(users.length)
  let count = 0
  for (const user of users) if (user.joined) latencies[count++] = user.joinedAt - user.joinSentAt
  for (const group of crowd.members) {
    const present = group.filter((u) => u.joined).length
    for (const user of group) user.peers = user.joined ? present - 1 : 0
  }
  return { stormMs, latencyMs: percentiles(latencies, count) }
}

interface WalkFigures {
  /** Length of the measured window, s. */
  windowS: number
  /** The generator's own CPU (% of one core) and event-loop lag p99 (ms) in the window. */
  cpuPct: number
  lagP99Ms: number
  /** The window's hooks, still running. */
  hooks: Array<Promise<void>>
}

/**
 * Every user who joined walks at hz, from a random phase; after warmupS the window opens for
 * durationS, then the walk stops. What the generator itself used meanwhile.
 */
async function walk (crowd: Crowd, hooks: LoadHooks): Promise<WalkFigures> {
  const { options, users } = crowd
  const period = 1000 / options.hz
  let stopped = false
  const step = (user: User): void => {
    const socket = user.socket
    if (stopped || socket === undefined || !socket.isOpen) return
    const now = performance.now()
    user.move(socket, now, now >= crowd.winStart)
  }
  const starters: NodeJS.Timeout[] = []
  for (const user of users) {
    if (!user.joined) continue
    starters.push(setTimeout(() => {
      step(user)
      user.timer = setInterval(step, period, user)
    }, Math.random() * period))
  }
  if (crowd.chatting) {
    // The j-th of the J users who joined first chats at j/J of the interval: chats spread evenly in time.
    const every = (options.chatEveryS as number) * 1000
    const chat = (user: User): void => {
      const socket = user.socket
      if (stopped || socket === undefined || !socket.isOpen) return
      const now = performance.now()
      user.chat(socket, now, now >= crowd.winStart)
    }
    const chatters = users.filter((u) => u.joined)
    for (const [j, user] of chatters.entries()) {
      starters.push(setTimeout(() => {
        chat(user)
        user.chatTimer = setInterval(chat, every, user)
      }, j / chatters.length * every))
    }
  }
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  lag.enable()
  await sleep(options.warmupS * 1000)
  crowd.winStart = performance.now()
  const cpuStart = process.cpuUsage()
  lag.reset()
  const running = [runHook(hooks.measureStart, 'measureStart', options.log)]
  await sleep(options.durationS * 1000)
  stopped = true
  crowd.winEnd = performance.now()
  for (const t of starters) clearTimeout(t)
  for (const user of users) {
    if (user.timer !== undefined) clearInterval(user.timer)
    if (user.chatTimer !== undefined) clearInterval(user.chatTimer)
  }
  const cpu = process.cpuUsage(cpuStart)
  const windowMs = crowd.winEnd - crowd.winStart
  const lagP99Ms = Math.max(0, lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS)
  lag.disable()
  running.push(runHook(hooks.measureEnd, 'measureEnd', options.log))
  return { windowS: windowMs / 1000, cpuPct: (cpu.user + cpu.system) / 1000 / windowMs * 100, lagP99Ms, hooks: running }
}

/** Waits, at most drainS, for the window's moves and chats still on their way. */
async function drain (crowd: Crowd): Promise<void> {
  const drainUntil = performance.now() + crowd.options.drainS * 1000
  const waiting = (): boolean => crowd.delivered < crowd.expected() || (crowd.chatting && crowd.chatsDelivered < crowd.chatsExpected())
  while (waiting() && performance.now() < drainUntil) await sleep(20)
}

/** Closes every socket, waiting at most 2 s for the server's answers. */
async function disconnect (crowd: Crowd): Promise<void> {
  let stillOpen = 0
  const closed = new Promise<void>((resolve) => { crowd.onClosedByUs = () => { if (--stillOpen === 0) resolve() } })
  for (const user of crowd.users) {
    const socket = user.socket
    user.closing = true
    if (user.timer !== undefined) clearInterval(user.timer)
    if (user.chatTimer !== undefined) clearInterval(user.chatTimer)
    if (socket === undefined || !socket.isOpen) {
      socket?.terminate()
      continue
    }
    stillOpen++
    user.awaitingClose = true
    socket.close(1000)
  }
  let timer: NodeJS.Timeout | undefined
  if (stillOpen > 0) await Promise.race([closed, new Promise((resolve) => { timer = setTimeout(resolve, 2000) })])
  clearTimeout(timer)
  for (const user of crowd.users) user.socket?.terminate()
}

function figures (crowd: Crowd, joins: JoinFigures, window: WalkFigures): LoadResult {
  let sent = 0
  let rejected = 0
  let chatsSent = 0
  let chatsRefused = 0
  for (const user of crowd.users) {
    sent += user.sentInWindow
    rejected += user.rejectedInWindow
    chatsSent += user.chatsSentInWindow
    chatsRefused += user.chatsRefusedInWindow
  }
  const { windowS } = window
  const chats: ChatFigures | undefined = crowd.chatting
    ? {
        sent: chatsSent,
        refused: chatsRefused,
        perS: windowS > 0 ? (chatsSent - chatsRefused) / windowS : 0,
        delivered: crowd.chatsDelivered,
        expected: crowd.chatsExpected(),
        latencyMs: percentiles(crowd.chatLatencies, crowd.chatSamples),
        unmatched: crowd.chatsUnmatched,
        duplicated: crowd.chatsDuplicated
      }
    : undefined
  return {
    users: crowd.users.length,
    spaces: crowd.members.length,
    joined: crowd.joined,
    joinFailures: crowd.failed,
    joiningAtOnceMax: crowd.joiningAtOnceMax,
    joinStormMs: joins.stormMs,
    joinLatencyMs: joins.latencyMs,
    windowS,
    moves: { sent, rejected, accepted: sent - rejected, perS: windowS > 0 ? (sent - rejected) / windowS : 0 },
    broadcasts: { delivered: crowd.delivered, expected: crowd.expected() },
    latencyMs: percentiles(crowd.latencies, crowd.samples),
    mismatched: crowd.mismatched,
    unexpectedCloses: crowd.unexpectedCloses,
    closeCodes: crowd.closeCodes,
    errors: crowd.errors,
    generator: { cpuPct: window.cpuPct, lagP99Ms: window.lagP99Ms },
    ...(chats !== undefined ? { chats } : {})
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
      'join-concurrency': { type: 'string', default: '0' },
      'chat-every': { type: 'string', default: '0' }
    }
  })
  const joinConcurrency = Number(values['join-concurrency'])
  const chatEveryS = Number(values['chat-every'])
  if (values.secret === undefined || !Number.isInteger(joinConcurrency) || joinConcurrency < 0 || !(chatEveryS === 0 || (chatEveryS >= 1 && values.dialect === 'plaza.v1'))) {
    process.stderr.write('usage: tsx bench/load.ts --url ws://HOST:PORT/ws --secret JWT_SECRET [--users 100] [--spaces N | --space-size 20] [--hz 10] [--duration 20] [--dialect plaza.v1|metaverse] [--join-concurrency K (an integer; 0: all at once)] [--chat-every S (≥ 1, plaza.v1)]\n')
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
    chatEveryS,
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
