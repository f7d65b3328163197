/**
 * `npm run bench`: the same load (bench/load.ts) against Plaza and against the bare `ws` baseline
 * (bench/baseline-server.ts), one after the other, each in a fresh process, and a table of what
 * users feel and what it costs, with the ratio Plaza/baseline. See bench/README.md.
 *
 *   npm run bench                                        # 200 users, spaces of 20, 10 Hz, 20 s
 *   npm run bench -- --users 600 --hz 10 --duration 20
 *   npm run bench -- --step 200,400,600,800 --duration 15    # the largest U holding p99 ≤ 50 ms, 100% delivery
 *   npm run bench -- --join-storm 2000/100               # 2,000 users joining 100 spaces at once
 *   npm run bench -- ... --out bench/RESULTS.md --json results.json
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { EnvSchema } from '../src/config.js'
import { type Dialect, type LoadOptions, type LoadResult, hs256Tokens, loopbackAddress, runLoad } from './load.js'

const root = new URL('..', import.meta.url).pathname
const usage = `usage: npm run bench -- [--users 200] [--spaces S | --space-size 20] [--hz 10] [--duration 20] [--warmup 2]
  [--step 200,400,600] [--join-storm 2000/100 [--rejoin] [--join-concurrency K]] [--dialect plaza.v1|metaverse] [--baseline plain|cork|fastify|plain,cork,…|none]
  [--repeat 1] [--redis-url URL | --private-redis] [--out bench/RESULTS.md] [--json FILE] [--no-plaza] [--cpu-prof DIR] [--from-source] [--no-generator-warmup]`

// ---------------------------------------------------------------------------------------------
// Options

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '200' },
    spaces: { type: 'string' },
    'space-size': { type: 'string', default: '20' },
    width: { type: 'string', default: '20' },
    height: { type: 'string', default: '20' },
    hz: { type: 'string', default: '10' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '2' },
    drain: { type: 'string', default: '3' },
    dialect: { type: 'string', default: 'plaza.v1' },
    step: { type: 'string' },
    'join-storm': { type: 'string' },
    rejoin: { type: 'boolean', default: false },
    baseline: { type: 'string', default: 'plain' },
    'no-plaza': { type: 'boolean', default: false },
    'redis-url': { type: 'string' },
    'private-redis': { type: 'boolean', default: false },
    'per-address': { type: 'string', default: '50' },
    'connect-concurrency': { type: 'string', default: '200' },
    'join-concurrency': { type: 'string', default: '0' },
    'p99-limit': { type: 'string', default: '50' },
    out: { type: 'string' },
    json: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    'cpu-prof': { type: 'string' },
    'from-source': { type: 'boolean', default: false },
    'no-generator-warmup': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  }
})
if (args.help) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}

const num = (name: string, value: string | undefined, min = 0): number => {
  const n = Number(value)
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`--${name} must be a number ≥ ${min}\n${usage}\n`)
    process.exit(2)
  }
  return n
}

const dialect: Dialect = args.dialect === 'metaverse' ? 'metaverse' : 'plaza.v1'
const spaceSize = num('space-size', args['space-size'], 1)
const width = num('width', args.width, 2)
const height = num('height', args.height, 2)
const p99Limit = num('p99-limit', args['p99-limit'])
const baselines = args.baseline === 'none' ? [] : (args.baseline ?? 'plain').split(',').map((b) => b.trim())
for (const b of baselines) {
  if (b !== 'plain' && b !== 'cork' && b !== 'fastify') {
    process.stderr.write(`--baseline: a comma-separated list of plain, cork and fastify, or none\n${usage}\n`)
    process.exit(2)
  }
}

export interface Scenario {
  mode: 'walk' | 'join-storm'
  users: number
  spaces: number
  hz: number
  durationS: number
  warmupS: number
  /**
   * A join storm of users coming back after a network cut: measured on the same server process,
   * after the same users joined, walked for a while and all dropped.
   */
  rejoin?: boolean
  /** A join storm whose users join this many at a time, each waiting for its space-joined (0 or absent: all at once). */
  joinConcurrency?: number
}

/** How long and how fast the users of a --rejoin storm walk before each cut (slowly: the cut finds no backlog), and how many cuts. */
const REJOIN_WALK_S = 2
const REJOIN_WALK_HZ = 1
const REJOIN_CUTS = 2

const scenarios: Scenario[] = []
const walkOf = (users: number): Scenario => ({
  mode: 'walk',
  users,
  spaces: args.spaces !== undefined ? num('spaces', args.spaces, 1) : Math.ceil(users / spaceSize),
  hz: num('hz', args.hz),
  durationS: num('duration', args.duration),
  warmupS: num('warmup', args.warmup)
})
if (args['join-storm'] !== undefined) {
  const [u, s] = args['join-storm'].split('/')
  const users = num('join-storm', u, 1)
  const joinConcurrency = num('join-concurrency', args['join-concurrency'])
  if (!Number.isInteger(joinConcurrency)) {
    process.stderr.write(`--join-concurrency is a number of users: a whole one\n${usage}\n`)
    process.exit(2)
  }
  const storm: Scenario = {
    mode: 'join-storm',
    users,
    spaces: s !== undefined ? num('join-storm', s, 1) : Math.ceil(users / spaceSize),
    hz: 0,
    durationS: 0,
    warmupS: 0,
    ...(joinConcurrency > 0 ? { joinConcurrency } : {})
  }
  scenarios.push(storm)
  if (args.rejoin) scenarios.push({ ...storm, rejoin: true })
} else if (args.rejoin || args['join-concurrency'] !== '0') {
  process.stderr.write(`--rejoin and --join-concurrency are about join storms: they go with --join-storm\n${usage}\n`)
  process.exit(2)
}
if (args.step !== undefined) {
  for (const u of args.step.split(',')) scenarios.push(walkOf(num('step', u, 1)))
} else if (args['join-storm'] === undefined) {
  scenarios.push(walkOf(num('users', args.users, 1)))
}

// ---------------------------------------------------------------------------------------------
// Processes, and cleaning up after them whatever happens

const children = new Set<ChildProcess>()
/** Key prefixes not yet deleted, and every prefix used (reported in --json). */
const prefixes: Array<{ url: string, prefix: string }> = []
const usedPrefixes: string[] = []
let privateRedisDir: string | undefined
/** Where Plaza's log files go, one per server started; removed with the rest. */
let logs: string | undefined
const logDir = (): string => {
  logs ??= mkdtempSync(join(os.tmpdir(), 'plaza-bench-logs-'))
  return logs
}
/** The private redis-server's pid (--private-redis), whose CPU is then measured too. */
let privateRedisPid: number | undefined
let privateRedisUrl: string | undefined

async function stopChild (child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child)
    return
  }
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
  children.delete(child)
}

async function deletePrefix (url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null })
  redis.on('error', () => {})
  let deleted = 0
  try {
    await redis.connect()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length > 0) deleted += await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
  return deleted
}

let cleaning: Promise<void> | undefined
function cleanup (): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...children].filter((c) => c.spawnargs.every((a) => !a.includes('redis-server'))).map((c) => stopChild(c)))
    for (const { url, prefix } of prefixes.splice(0)) {
      // A private Redis that is gone (Ctrl-C reaches it too) took its keys with it.
      if (url === privateRedisUrl && [...children].every((c) => !c.spawnargs.includes('redis-server'))) continue
      await deletePrefix(url, prefix).catch((err: unknown) => process.stderr.write(`could not delete ${prefix}* keys: ${(err as Error).message}\n`))
    }
    await Promise.all([...children].map((c) => stopChild(c)))
    if (privateRedisDir !== undefined) rmSync(privateRedisDir, { recursive: true, force: true })
    if (logs !== undefined) rmSync(logs, { recursive: true, force: true })
  })()
  return cleaning
}

// Ctrl-C reaches every process of the group, and tsx relays it once more: the first signal starts
// the cleanup, later ones do not cut it short (a deadline does, should it hang).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (cleaning !== undefined) return
    process.stderr.write(`\n${signal}: stopping the servers and deleting the benchmark's Redis keys\n`)
    setTimeout(() => process.exit(130), 30_000).unref()
    void cleanup().finally(() => process.exit(130))
  })
}

// A bug must not leave servers running either.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`)
    setTimeout(() => process.exit(1), 30_000).unref()
    void cleanup().finally(() => process.exit(1))
  })
}

async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  return typeof address === 'object' && address !== null ? address.port : 0
}

/** What a child printed: its recent output, and how many lines were trouble (see `isTrouble`). */
interface ChildOutput {
  /** The last 10–20 kB printed. */
  output: () => string
  /** Lines of trouble printed so far, and the last few of them. */
  trouble: () => { count: number, last: string[] }
}

/** Anything but a pino line below warn: Plaza logs each join and leave at info, its default level. */
function isTrouble (line: string): boolean {
  return line.trim() !== '' && !/^\{"level":[123]0,/.test(line)
}

/** Counts the lines of trouble in text that arrives in pieces (one stream's). */
function troubleCounter (): { feed: (text: string) => void, read: () => { count: number, last: string[] } } {
  let partial = ''
  let count = 0
  const last: string[] = []
  return {
    feed: (text) => {
      const lines = (partial + text).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (!isTrouble(line)) continue
        count++
        if (last.push(line) > 5) last.shift()
      }
    },
    read: () => ({ count, last: [...last] })
  }
}

/**
 * Starts a child. Its output goes to `logFile` when given (as a deployment's logs go to a file or a
 * collector, not back into the load generator's process, which would then read every line while
 * it times the run), read back when asked; else it is piped here.
 */
function spawnChild (command: string, argv: string[], env: Record<string, string>, logFile?: string): { child: ChildProcess } & ChildOutput {
  const fd = logFile === undefined ? undefined : openSync(logFile, 'a')
  const out = fd ?? 'pipe'
  const child = spawn(command, argv, { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', out, out] })
  if (fd !== undefined) closeSync(fd)
  children.add(child)
  child.once('exit', () => children.delete(child))
  if (logFile !== undefined) {
    const counter = troubleCounter()
    let scanned = 0
    const scan = (): void => {
      const text = readFileSync(logFile)
      counter.feed(text.subarray(scanned).toString())
      scanned = text.length
    }
    return {
      child,
      output: () => readFileSync(logFile).subarray(-10_000).toString(),
      trouble: () => {
        scan()
        return counter.read()
      }
    }
  }
  let output = ''
  const counters = [troubleCounter(), troubleCounter()] as const
  const keep = (counter: ReturnType<typeof troubleCounter>) => (chunk: Buffer): void => {
    const text = chunk.toString()
    output += text
    if (output.length > 20_000) output = output.slice(-10_000)
    counter.feed(text)
  }
  child.stdout?.on('data', keep(counters[0]))
  child.stderr?.on('data', keep(counters[1]))
  return {
    child,
    output: () => output,
    trouble: () => {
      const [a, b] = counters.map((c) => c.read()) as [{ count: number, last: string[] }, { count: number, last: string[] }]
      return { count: a.count + b.count, last: [...a.last, ...b.last].slice(-5) }
    }
  }
}

/** A small HTTP client: the admin routes count requests per address, so admin calls rotate theirs. */
let adminRequests = 0
function http (url: string, options: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<{ status: number, text: string }> {
  const localAddress = loopbackAddress(5000 + Math.floor(adminRequests++ / 100))
  return new Promise((resolve, reject) => {
    // agent: false: a connection of its own, never a kept-alive one the server may be closing.
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, localAddress, agent: false, timeout: 10_000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)))
    req.end(options.body)
  })
}

async function waitHealthy (url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}):\n${output()}`)
    try {
      if ((await http(url)).status === 200) return
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`the server did not answer ${url} within 30 s:\n${output()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

// ---------------------------------------------------------------------------------------------
// What is measured on the server side

let clockTicks = 100
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
} catch { /* Linux's usual */ }

/** Clock ticks of user + system time in a `stat` file of /proc (a process's or a thread's); throws without it. */
function statTicks (path: string): number {
  const stat = readFileSync(path, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/**
 * CPU seconds (user + system) the process used so far, or only its main thread (its event loop);
 * NaN without /proc.
 */
function cpuSeconds (pid: number, mainThreadOnly = false): number {
  try {
    return statTicks(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`) / clockTicks
  } catch {
    return Number.NaN
  }
}

/** CPU seconds the whole machine spent busy so far (every core; steal apart); NaN without /proc. */
function machineBusy (): { busy: number, steal: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? []
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
    return { busy: (user + nice + system + irq + softirq) / clockTicks, steal: steal / clockTicks }
  } catch {
    return { busy: Number.NaN, steal: Number.NaN }
  }
}

/** Resident memory in bytes; NaN without /proc. */
function rssBytes (pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? Number.NaN : Number(match[1]) * 1024
  } catch {
    return Number.NaN
  }
}

/** Commands Redis has run so far, by command, all but INFO (which we send), from INFO commandstats. */
async function redisCalls (redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats')
  const calls = new Map<string, number>()
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] !== 'info') calls.set(match[1] as string, Number(match[2]))
  }
  return calls
}

/** Commands run between two snapshots: the total, and by command, most first. */
function callsBetween (before: Map<string, number> | undefined, after: Map<string, number> | undefined): { total: number, byCommand: Array<[string, number]> } {
  if (before === undefined || after === undefined) return { total: Number.NaN, byCommand: [] }
  const byCommand: Array<[string, number]> = []
  let total = 0
  for (const [command, n] of after) {
    const delta = n - (before.get(command) ?? 0)
    if (delta > 0) {
      byCommand.push([command, delta])
      total += delta
    }
  }
  return { total, byCommand: byCommand.sort((a, b) => b[1] - a[1]) }
}

interface Lag { p99Ms: number, maxMs: number }

interface Server {
  name: string
  pid: number
  wsUrl: string
  /** Starts a new event-loop lag window. */
  lagReset: () => Promise<void>
  /** The event-loop delay since lagReset, beyond the 10 ms timer resolution. */
  lagRead: () => Promise<Lag>
  /** Moves the server says it accepted so far (Plaza's counter), when it says. */
  acceptedMoves?: () => Promise<number>
  /** Joins that resumed a ghost where it stood, so far (Plaza's counter). */
  resumedJoins?: () => Promise<number>
  redis?: Redis
  /** What the server printed so far. */
  output: () => string
  trouble: ChildOutput['trouble']
  /** How long the server may hold a log line before writing it (Plaza: its LOG_FLUSH_MS). */
  logDelayMs?: number
  stop: () => Promise<void>
}

/** Plaza runs with its default LOG_FLUSH_MS. */
const PLAZA_LOG_FLUSH_MS = Number(Reflect.get(EnvSchema.properties.LOG_FLUSH_MS, 'default'))

const JWT_SECRET = randomBytes(32).toString('base64url')
const ADMIN_TOKEN = randomBytes(24).toString('base64url')
const tokens = hs256Tokens(JWT_SECRET)
const RESOLUTION_S = 0.01

function metric (text: string, name: string): number {
  const escaped = name.replace(/[{}"=]/g, (c) => `\\${c}`)
  const match = new RegExp(`^${escaped} ([^\\s]+)$`, 'm').exec(text)
  return match === null ? Number.NaN : Number(match[1])
}

/**
 * --cpu-prof DIR: node's flags for V8 CPU profiles of a server run, written when it exits, in a folder
 * named after the server and the time (node writes one file per thread: the main one is the largest).
 */
function cpuProfile (name: string): string[] {
  const dir = args['cpu-prof']
  return dir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(dir, `${name}-${Date.now()}`)]
}

/**
 * The servers run as `npm start` runs Plaza: compiled by tsc into dist/ (built once per bench run),
 * without the tsx loader, which costs Plaza and the baseline differently (a call per closure made).
 * --from-source runs both from TypeScript through tsx instead.
 */
function entry (source: string): string[] {
  return args['from-source'] ? ['--import', 'tsx', source] : [join('dist', source.replace(/\.ts$/, '.js'))]
}

async function startPlaza (redisUrl: string, spaces: number): Promise<Server> {
  const port = await freePort()
  const prefix = `bench:${randomBytes(4).toString('hex')}:`
  prefixes.push({ url: redisUrl, prefix })
  usedPrefixes.push(prefix)
  const { child, output, trouble } = spawnChild(process.execPath, [...cpuProfile('plaza'), ...entry('server/main.ts')], {
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET,
    ADMIN_TOKEN,
    KEY_PREFIX: prefix,
    REDIS_URL: redisUrl
  }, join(logDir(), `plaza-${prefix.split(':')[1] ?? ''}.log`))
  child.stdin?.end()
  const base = `http://127.0.0.1:${port}`
  await waitHealthy(`${base}/healthz`, child, output)
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
  for (let i = 0; i < spaces; i++) {
    const put = await http(`${base}/admin/spaces/bench-${i}`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ width, height })
    })
    if (put.status !== 201 && put.status !== 200) throw new Error(`PUT /admin/spaces/bench-${i}: ${put.status} ${put.text}`)
  }
  const scrape = async (): Promise<string> => {
    const res = await http(`${base}/metrics`, { headers: admin })
    if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${res.text}`)
    return res.text
  }
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  redis.on('error', () => { /* a figure goes missing; the run goes on */ })
  return {
    name: 'Plaza',
    pid: child.pid ?? 0,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    lagReset: async () => { await scrape() },
    lagRead: async () => {
      const text = await scrape()
      return {
        p99Ms: Math.max(0, metric(text, 'nodejs_eventloop_lag_p99_seconds') - RESOLUTION_S) * 1000,
        maxMs: Math.max(0, metric(text, 'nodejs_eventloop_lag_max_seconds') - RESOLUTION_S) * 1000
      }
    },
    acceptedMoves: async () => metric(await scrape(), 'plaza_moves_total{result="accepted"}'),
    resumedJoins: async () => metric(await scrape(), 'plaza_joins_total{kind="resume"}'),
    redis,
    output,
    trouble,
    logDelayMs: PLAZA_LOG_FLUSH_MS,
    stop: async () => {
      redis.disconnect()
      await stopChild(child, 12_000)
      const deleted = await deletePrefix(redisUrl, prefix).catch(() => -1)
      if (deleted >= 0) prefixes.splice(prefixes.findIndex((p) => p.prefix === prefix), 1)
    }
  }
}

async function startBaseline (variant: string): Promise<Server> {
  const port = await freePort()
  const argv = [...cpuProfile(`baseline-${variant}`), ...entry('bench/baseline-server.ts'), '--port', String(port), '--host', '127.0.0.1',
    '--width', String(width), '--height', String(height), '--parent-watch', ...(variant === 'plain' ? [] : [`--${variant}`])]
  const { child, output, trouble } = spawnChild(process.execPath, argv, {})
  const base = `http://127.0.0.1:${port}`
  await waitHealthy(`${base}/healthz`, child, output)
  return {
    name: variant === 'plain' ? 'baseline' : `baseline --${variant}`,
    pid: child.pid ?? 0,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    lagReset: async () => { await http(`${base}/lag`) },
    lagRead: async () => {
      const lag = JSON.parse((await http(`${base}/lag`)).text) as { p99: number, max: number }
      return { p99Ms: Math.max(0, lag.p99 - RESOLUTION_S) * 1000, maxMs: Math.max(0, lag.max - RESOLUTION_S) * 1000 }
    },
    output,
    trouble,
    stop: async () => { await stopChild(child) }
  }
}

async function startPrivateRedis (): Promise<string> {
  const port = await freePort()
  privateRedisDir = mkdtempSync(join(os.tmpdir(), 'plaza-bench-redis-'))
  const { child, output } = spawnChild('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', privateRedisDir], {})
  privateRedisPid = child.pid
  child.stdin?.end()
  const url = `redis://127.0.0.1:${port}`
  privateRedisUrl = url
  const deadline = Date.now() + 10_000
  for (;;) {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    redis.on('error', () => {})
    try {
      await redis.connect()
      await redis.ping()
      return url
    } catch {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start:\n${output()}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    } finally {
      redis.disconnect()
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One run: a scenario against a server

export interface Figures {
  server: string
  load: LoadResult
  cpuPct: number
  cpuUsPerUserS: number
  cpuMs: number
  /** CPU of the server's threads other than the main one (V8's compiler and GC helpers, libuv's pool), ms. */
  cpuOtherThreadsMs: number
  /** CPU of the bench's own process (the load generator) in the window, ms. */
  generatorCpuMs: number
  /** Joins the server counted as resuming a ghost in the window (Plaza only). */
  resumedJoins: number
  rssMB: number
  rssIdleMB: number
  rssPerUserKB: number
  redisCommands: number
  redisPerS: number
  redisPerMove: number
  redisPerJoin: number
  /** The window's Redis commands by command, most first. */
  redisByCommand: Array<[string, number]>
  serverAcceptedMoves: number
  lag: Lag
  /** CPU the rest of the machine used in the window (neither the server nor the generator), % of one core. */
  otherCpuPct: number
  /** The last lines of warnings or worse the server printed during the run. */
  serverTrouble: string[]
  /** The private Redis's CPU in the window, % of one core (NaN with a shared Redis). */
  redisCpuPct: number
  stealPct: number
  held: boolean
  /** With --repeat: the p99 (walk) or join-storm time (join storm) of every repeat, and the other processes' CPU then; this run is their median. */
  repeats: Array<[number, number]>
}

async function measure (server: Server, scenario: Scenario): Promise<Figures> {
  const rssIdle = rssBytes(server.pid)
  let cpu0 = Number.NaN
  let t0 = 0
  let cpu1 = Number.NaN
  let t1 = 0
  let rss = Number.NaN
  let calls0: Map<string, number> | undefined
  let calls1: Map<string, number> | undefined
  let callsT0 = 0
  let callsT1 = 0
  let accepted0 = Number.NaN
  let accepted1 = Number.NaN
  let resumed0 = Number.NaN
  let resumed1 = Number.NaN
  let mainThread0 = Number.NaN
  let mainThread1 = Number.NaN
  let lag: Lag = { p99Ms: Number.NaN, maxMs: Number.NaN }
  let lagValid = false
  const troubleBefore = server.trouble().count
  let machine0 = machineBusy()
  let redisCpu0 = Number.NaN
  let redisCpu1 = Number.NaN
  let machine1 = machine0
  let self0 = process.cpuUsage()
  // NaN until the window ends: a window that never ends leaves its figures missing, not wrong.
  let self1 = { user: Number.NaN, system: Number.NaN }

  // What /proc says is always read, at once (after the scrapes at the start, before them at the end);
  // what the server or Redis must answer may fail (an overloaded server may not answer in time):
  // that figure is then missing, the others are not.
  const warn = (what: string) => (err: unknown): void => { process.stderr.write(`  [${server.name}] ${what}: ${(err as Error).message}\n`) }
  const begin = async (): Promise<void> => {
    lagValid = await server.lagReset().then(() => true, (err: unknown) => {
      warn('event-loop lag')(err)
      return false
    })
    if (server.acceptedMoves !== undefined) accepted0 = await server.acceptedMoves().catch(() => Number.NaN)
    if (server.resumedJoins !== undefined) resumed0 = await server.resumedJoins().catch(() => Number.NaN)
    if (server.redis !== undefined) {
      calls0 = await redisCalls(server.redis).catch(() => undefined)
      callsT0 = performance.now()
    }
    // The CPU window opens after the scrapes above, which Plaza answers and a bare baseline does not.
    // The main thread's window lies within the whole process's: the process is read first here, last at the end.
    cpu0 = cpuSeconds(server.pid)
    mainThread0 = cpuSeconds(server.pid, true)
    redisCpu0 = privateRedisPid !== undefined && server.redis !== undefined ? cpuSeconds(privateRedisPid) : Number.NaN
    machine0 = machineBusy()
    self0 = process.cpuUsage()
    t0 = performance.now()
  }
  const end = async (): Promise<void> => {
    mainThread1 = cpuSeconds(server.pid, true)
    cpu1 = cpuSeconds(server.pid)
    redisCpu1 = privateRedisPid !== undefined && server.redis !== undefined ? cpuSeconds(privateRedisPid) : Number.NaN
    machine1 = machineBusy()
    self1 = process.cpuUsage(self0)
    t1 = performance.now()
    rss = rssBytes(server.pid)
    if (server.redis !== undefined) {
      calls1 = await redisCalls(server.redis).catch(() => undefined)
      callsT1 = performance.now()
    }
    // Without the reset at the start, what the server answers is not this window's lag.
    lag = lagValid
      ? await server.lagRead().catch((err: unknown) => {
        warn('event-loop lag')(err)
        return { p99Ms: Number.NaN, maxMs: Number.NaN }
      })
      : { p99Ms: Number.NaN, maxMs: Number.NaN }
    if (server.acceptedMoves !== undefined) accepted1 = await server.acceptedMoves().catch(() => Number.NaN)
    if (server.resumedJoins !== undefined) resumed1 = await server.resumedJoins().catch(() => Number.NaN)
  }
  const hooks = scenario.mode === 'walk' ? { measureStart: begin, measureEnd: end } : { joinStart: begin, joinEnd: end }
  const userIdPrefix = `b${randomBytes(3).toString('hex')}_`
  const options: LoadOptions = {
    url: server.wsUrl,
    dialect,
    users: scenario.users,
    spaces: scenario.spaces,
    spaceId: (i) => `bench-${i}`,
    hz: scenario.hz,
    warmupS: scenario.warmupS,
    durationS: scenario.durationS,
    drainS: num('drain', args.drain),
    token: tokens,
    userIdPrefix,
    spaceWidth: width,
    spaceHeight: height,
    connectConcurrency: num('connect-concurrency', args['connect-concurrency'], 1),
    joinConcurrency: scenario.joinConcurrency ?? 0,
    joinTimeoutS: 60,
    perAddress: num('per-address', args['per-address']),
    log: (line) => process.stderr.write(`  [${server.name}] ${line}\n`)
  }
  if (scenario.rejoin === true) {
    // Everyone joins and walks, then drops: their sockets close, as in a network cut. Twice, so that
    // the server has seen each path (joins, resumes, moves, flushes, drops) more than once, as one
    // that has been up for a while has. Then they come back, measured.
    for (let cut = 0; cut < REJOIN_CUTS; cut++) {
      const before = await runLoad({ ...options, hz: REJOIN_WALK_HZ, durationS: REJOIN_WALK_S })
      if (before.joined !== before.users) process.stderr.write(`  [${server.name}] ${before.users - before.joined} users failed to join before cut ${cut + 1}\n`)
    }
  }
  const load = await runLoad({ ...options, hooks })

  const users = load.joined
  const seconds = (t1 - t0) / 1000
  const cpu = cpu1 - cpu0
  // The run's last lines may still be in the server's log batch.
  if (server.logDelayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, server.logDelayMs as number + 50))
  const trouble = server.trouble()
  const troubleLines = trouble.count > troubleBefore ? trouble.last.slice(-(trouble.count - troubleBefore)) : []
  if (troubleLines.length > 0) {
    process.stderr.write(`  [${server.name}] printed ${trouble.count - troubleBefore} line(s) of warnings or worse during the run; the last:\n${troubleLines.map((l) => `    ${l.slice(0, 400)}`).join('\n')}\n`)
  }
  const { total: redisCommands, byCommand } = callsBetween(calls0, calls1)
  const redisCpu = redisCpu1 - redisCpu0
  const held = load.joined === load.users && load.broadcasts.expected > 0 &&
    load.broadcasts.delivered === load.broadcasts.expected && load.latencyMs.p99 <= p99Limit
  return {
    server: server.name,
    load,
    cpuPct: cpu / seconds * 100,
    cpuUsPerUserS: cpu / seconds / users * 1e6,
    cpuMs: cpu * 1000,
    // The process's time less its main thread's: V8's compiler and GC helpers and libuv's pool, threads
    // that ended meanwhile included. Each reading is rounded down to a clock tick, so a window in which
    // the other threads did next to nothing may come out a tick below zero: zero.
    cpuOtherThreadsMs: Math.max(0, cpu - (mainThread1 - mainThread0)) * 1000,
    generatorCpuMs: (self1.user + self1.system) / 1000,
    resumedJoins: resumed1 - resumed0,
    rssMB: rss / 2 ** 20,
    rssIdleMB: rssIdle / 2 ** 20,
    rssPerUserKB: (rss - rssIdle) / users / 1024,
    redisCommands,
    redisPerS: redisCommands / ((callsT1 - callsT0) / 1000),
    redisPerMove: redisCommands / load.moves.accepted,
    redisPerJoin: redisCommands / users,
    redisByCommand: byCommand,
    serverTrouble: troubleLines,
    serverAcceptedMoves: accepted1 - accepted0,
    lag,
    otherCpuPct: Math.max(0, machine1.busy - machine0.busy - cpu - (self1.user + self1.system) / 1e6 - (Number.isFinite(redisCpu) ? redisCpu : 0)) / seconds * 100,
    redisCpuPct: redisCpu / seconds * 100,
    stealPct: (machine1.steal - machine0.steal) / seconds * 100,
    held,
    repeats: []
  }
}

const repeat = num('repeat', args.repeat, 1)

/**
 * The generator's first runs are on cold code (V8 compiles its hot paths meanwhile) and take CPU from
 * the server beside it, the first one measured: the first scenario, twice against a bare baseline.
 */
async function warmUpGenerator (): Promise<void> {
  const first = scenarios[0] as Scenario
  const warmUp: Scenario = { ...first, durationS: Math.min(first.durationS, 2), warmupS: Math.min(first.warmupS, 1) }
  const server = await startBaseline('plain')
  try {
    for (let i = 1; i <= 2; i++) {
      process.stderr.write(`  warming up the load generator (${i}/2): ${title(warmUp)}, against the baseline, not measured…\n`)
      await measure(server, warmUp)
    }
  } finally {
    await server.stop()
  }
}

/** The median run by p99 (walk) or join-storm time; of two, the better. */
function median (tries: Figures[], scenario: Scenario): Figures {
  const key = (f: Figures): number => {
    const v = scenario.mode === 'walk' ? f.load.latencyMs.p99 : f.load.joinStormMs
    return Number.isFinite(v) && f.load.joined === f.load.users ? v : Number.POSITIVE_INFINITY
  }
  const sorted = [...tries].sort((a, b) => key(a) - key(b))
  const chosen = sorted[Math.floor((sorted.length - 1) / 2)] as Figures
  return { ...chosen, repeats: tries.map((f) => [scenario.mode === 'walk' ? f.load.latencyMs.p99 : f.load.joinStormMs, f.otherCpuPct]) }
}

// ---------------------------------------------------------------------------------------------
// Tables

const fmt = (value: number, digits = 1): string => {
  if (!Number.isFinite(value)) return '—'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

interface Row {
  label: string
  value: (f: Figures) => number
  digits?: number
  /** Shown instead of the number. */
  text?: (f: Figures) => string
  /** No ratio column (counts that should be equal, booleans). */
  noRatio?: boolean
}

const pct = (f: Figures): number => f.load.broadcasts.expected > 0 ? f.load.broadcasts.delivered / f.load.broadcasts.expected * 100 : Number.NaN

/** The close codes of the unexpected closes, e.g. " (1011×5)". */
const codes = (f: Figures): string => {
  const entries = Object.entries(f.load.closeCodes)
  return entries.length === 0 ? '' : ` (${entries.map(([code, n]) => `${code}×${n}`).join(', ')})`
}

/** The five commands run most, per `unit` (moves, joins). */
const byType = (f: Figures, unit: number): string =>
  f.redisByCommand.length === 0 ? '—' : f.redisByCommand.slice(0, 5).map(([command, n]) => `${command} ${fmt(n / unit, 2)}`).join(', ')

const walkRows: Row[] = [
  { label: 'users joined / spaces', value: (f) => f.load.joined, text: (f) => `${f.load.joined} / ${f.load.spaces}`, noRatio: true },
  { label: 'join storm: first connect → last space-joined (ms)', value: (f) => f.load.joinStormMs, digits: 0 },
  { label: 'join latency p99 (ms)', value: (f) => f.load.joinLatencyMs.p99 },
  { label: 'moves accepted (/s)', value: (f) => f.load.moves.perS, digits: 0 },
  { label: 'move→peer latency p50 (ms)', value: (f) => f.load.latencyMs.p50, digits: 2 },
  { label: 'move→peer latency p95 (ms)', value: (f) => f.load.latencyMs.p95, digits: 2 },
  { label: 'move→peer latency p99 (ms)', value: (f) => f.load.latencyMs.p99, digits: 2 },
  { label: 'move→peer latency max (ms)', value: (f) => f.load.latencyMs.max, digits: 1 },
  {
    label: 'broadcasts delivered / expected',
    value: pct,
    text: (f) => `${f.load.broadcasts.delivered.toLocaleString('en-US')} / ${f.load.broadcasts.expected.toLocaleString('en-US')} (${fmt(pct(f), 2)}%)`,
    noRatio: true
  },
  { label: 'rejected moves', value: (f) => f.load.moves.rejected, digits: 0, noRatio: true },
  { label: 'unmatched moves / unexpected closes', value: (f) => f.load.mismatched, text: (f) => `${f.load.mismatched} / ${f.load.unexpectedCloses}${codes(f)}`, noRatio: true },
  { label: 'server CPU (% of one core)', value: (f) => f.cpuPct, digits: 0 },
  { label: 'server CPU per user (µs per s)', value: (f) => f.cpuUsPerUserS, digits: 0 },
  { label: 'server RSS (MB)', value: (f) => f.rssMB },
  { label: 'server RSS per user, over idle (KB)', value: (f) => f.rssPerUserKB },
  { label: 'Redis commands (/s)', value: (f) => f.redisPerS, digits: 0 },
  { label: 'Redis commands per accepted move', value: (f) => f.redisPerMove, digits: 3 },
  { label: 'Redis commands by type (per 1,000 accepted moves)', value: () => Number.NaN, text: (f) => byType(f, f.load.moves.accepted / 1000), noRatio: true },
  { label: 'Redis server CPU (% of one core; --private-redis)', value: (f) => f.redisCpuPct, digits: 1, noRatio: true },
  { label: 'event-loop lag p99 (ms)', value: (f) => f.lag.p99Ms, digits: 2 },
  { label: 'event-loop lag max (ms)', value: (f) => f.lag.maxMs, digits: 1 },
  { label: 'load generator CPU (% of one core)', value: (f) => f.load.generator.cpuPct, digits: 0 },
  { label: 'load generator event-loop lag p99 (ms)', value: (f) => f.load.generator.lagP99Ms, digits: 1 },
  { label: 'other processes\' CPU on the machine (% of one core; Redis apart)', value: (f) => f.otherCpuPct, digits: 0, noRatio: true },
  { label: `holds (p99 ≤ ${p99Limit} ms, 100% delivered)`, value: (f) => Number(f.held), text: (f) => f.held ? 'yes' : 'no', noRatio: true }
]

const stormRows: Row[] = [
  { label: 'users joined / spaces', value: (f) => f.load.joined, text: (f) => `${f.load.joined} / ${f.load.spaces}`, noRatio: true },
  { label: 'join storm: first connect → last space-joined (ms)', value: (f) => f.load.joinStormMs, digits: 0 },
  { label: 'join latency p50 (ms)', value: (f) => f.load.joinLatencyMs.p50 },
  { label: 'join latency p99 (ms)', value: (f) => f.load.joinLatencyMs.p99 },
  { label: 'join latency max (ms)', value: (f) => f.load.joinLatencyMs.max },
  { label: 'failed joins / unexpected closes', value: (f) => f.load.joinFailures, text: (f) => `${f.load.joinFailures} / ${f.load.unexpectedCloses}${codes(f)}`, noRatio: true },
  { label: 'server CPU during the storm (ms)', value: (f) => f.cpuMs, digits: 0 },
  { label: 'server CPU during the storm (% of one core)', value: (f) => f.cpuPct, digits: 0 },
  { label: 'of which on threads other than the main one (ms; V8 compiling and GC)', value: (f) => f.cpuOtherThreadsMs, digits: 0 },
  { label: 'load generator CPU during the storm (ms)', value: (f) => f.generatorCpuMs, digits: 0 },
  { label: 'joins that resumed a ghost (the server\'s count)', value: (f) => f.resumedJoins, digits: 0, noRatio: true },
  { label: 'server RSS (MB)', value: (f) => f.rssMB },
  { label: 'server RSS per user, over idle (KB)', value: (f) => f.rssPerUserKB },
  { label: 'Redis commands per join', value: (f) => f.redisPerJoin, digits: 2 },
  { label: 'Redis commands by type (per join)', value: () => Number.NaN, text: (f) => byType(f, f.load.joined), noRatio: true },
  { label: 'Redis server CPU (% of one core; --private-redis)', value: (f) => f.redisCpuPct, digits: 1, noRatio: true },
  { label: 'event-loop lag p99 (ms)', value: (f) => f.lag.p99Ms, digits: 1 },
  { label: 'event-loop lag max (ms)', value: (f) => f.lag.maxMs, digits: 1 },
  { label: 'other processes\' CPU on the machine (% of one core; Redis apart)', value: (f) => f.otherCpuPct, digits: 0, noRatio: true }
]

function table (scenario: Scenario, runs: Figures[]): string {
  const rows = [...(scenario.mode === 'walk' ? walkRows : stormRows)]
  if (repeat > 1) {
    rows.push({
      label: `${scenario.mode === 'walk' ? 'p99' : 'join storm'} of each of ${repeat} runs (ms; other processes' CPU then; the median run is shown)`,
      value: () => Number.NaN,
      text: (f) => f.repeats.map(([v, other]) => `${fmt(v, scenario.mode === 'walk' ? 1 : 0)} (${fmt(other, 0)}%)`).join(', '),
      noRatio: true
    })
  }
  const plaza = runs.find((r) => r.server === 'Plaza')
  const others = runs.filter((r) => r !== plaza)
  const head = ['figure', ...runs.map((r) => r.server), ...(plaza !== undefined ? others.map((o) => `Plaza/${o.server}`) : [])]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => i === 0 ? '---' : '---:').join('|')}|`]
  for (const row of rows) {
    const cells = runs.map((r) => row.text?.(r) ?? fmt(row.value(r), row.digits ?? 1))
    const ratios = plaza === undefined
      ? []
      : others.map((o) => {
        if (row.noRatio) return ''
        const a = row.value(plaza)
        const b = row.value(o)
        return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${fmt(a / b, 2)}×` : '—'
      })
    lines.push(`| ${[row.label, ...cells, ...ratios].join(' | ')} |`)
  }
  return lines.join('\n')
}

function title (scenario: Scenario): string {
  return scenario.mode === 'walk'
    ? `${scenario.users} users in ${scenario.spaces} spaces (${width}×${height}), ${scenario.hz} moves/s each, ${scenario.durationS} s measured after ${scenario.warmupS} s warm-up, ${dialect}`
    : `join storm: ${scenario.users} users into ${scenario.spaces} spaces (${width}×${height}) ${scenario.joinConcurrency === undefined ? 'at once' : `${scenario.joinConcurrency} at a time, each waiting for its space-joined`}${scenario.rejoin === true ? `, coming back (the same users, who joined the same server process, walked ${REJOIN_WALK_S} s at ${REJOIN_WALK_HZ} move/s and all dropped, ${REJOIN_CUTS} times before)` : ''}, ${dialect}`
}

function gitState (): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'plugins', 'routes'], { cwd: root }).toString()
    const files = dirty.split('\n').filter((l) => l.length > 3).map((l) => l.slice(3))
    return files.length === 0 ? head : `${head} + uncommitted changes in ${files.join(', ')}`
  } catch {
    return 'unknown'
  }
}

function machine (redisNote: string): string[] {
  const cpus = os.cpus()
  const load = os.loadavg().map((l) => l.toFixed(2)).join(', ')
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}`,
    `- node ${process.version}; Plaza at ${gitState()}; servers run ${args['from-source'] ? 'from source through tsx' : 'compiled (tsc → dist/), as npm start runs Plaza'}`,
    `- Redis: ${redisNote}`,
    `- load average at the start: ${load}`
  ]
}

// ---------------------------------------------------------------------------------------------
// Main

async function main (): Promise<void> {
  if (!args['from-source']) {
    // TypeScript 7's compiler is a native executable: run it directly, not through a node process
    // that a test runner's hooks would follow.
    const { default: tscPath } = await import(pathToFileURL(join(root, 'node_modules', 'typescript', 'lib', 'getExePath.js')).href) as { default: () => string }
    execFileSync(tscPath(), ['-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
  }
  let redisUrl = args['redis-url'] ?? 'redis://127.0.0.1:6379'
  let redisNote = `${redisUrl} (shared: its command counts include other clients' commands)`
  if (args['private-redis']) {
    redisUrl = await startPrivateRedis()
    redisNote = 'a private redis-server started for the run (default configuration, no persistence), so that INFO commandstats counts Plaza\'s commands only'
  }
  if (!args['no-plaza']) {
    const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    try {
      await probe.connect()
      const version = /redis_version:(\S+)/.exec(await probe.info('server'))?.[1]
      redisNote = `Redis ${version ?? '?'}: ${redisNote}`
    } catch (err) {
      throw new Error(`Redis at ${redisUrl} does not answer (${(err as Error).message}); Plaza is measured with Redis`)
    } finally {
      probe.disconnect()
    }
  }

  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim()
  const header = machine(redisNote)
  const out: string[] = [`### ${new Date().toISOString().slice(0, 10)}: \`${command}\``, '', ...header, '']
  process.stdout.write(`${header.join('\n')}\n\n`)

  if (!args['no-generator-warmup']) await warmUpGenerator()
  const results: Array<{ scenario: Scenario, runs: Figures[], tries: Figures[][] }> = []
  for (const scenario of scenarios) {
    process.stdout.write(`#### ${title(scenario)}\n\n`)
    const targets: Array<() => Promise<Server>> = [
      ...(args['no-plaza'] ? [] : [() => startPlaza(redisUrl, scenario.spaces)]),
      ...baselines.map((b) => () => startBaseline(b))
    ]
    // Repeats take turns (Plaza, baseline, Plaza, baseline…), so that a busy moment of a shared
    // machine does not fall on one server only; each target's median run is shown.
    const all: Figures[][] = targets.map(() => [])
    for (let r = 0; r < repeat; r++) {
      for (const [i, start] of targets.entries()) {
        const server = await start()
        try {
          process.stderr.write(`  ${server.name}: ${scenario.users} users${repeat > 1 ? ` (${r + 1}/${repeat})` : ''}…\n`)
          all[i]?.push(await measure(server, scenario))
        } finally {
          await server.stop()
        }
      }
    }
    const runs = all.map((tries) => median(tries, scenario))
    const text = table(scenario, runs)
    process.stdout.write(`${text}\n\n`)
    out.push(`#### ${title(scenario)}`, '', text, '')
    results.push({ scenario, runs, tries: all })
  }

  const summary: string[] = []
  const walks = results.filter((r) => r.scenario.mode === 'walk')
  if (walks.length > 1) {
    const names = walks[0]?.runs.map((r) => r.server) ?? []
    summary.push(`| users | ${names.map((n) => `${n} p99 (ms) | ${n} delivered | ${n} holds`).join(' | ')} |`)
    summary.push(`|---:|${names.map(() => '---:|---:|---').join('|')}|`)
    for (const { scenario, runs } of walks) {
      summary.push(`| ${scenario.users} | ${runs.map((r) => `${fmt(r.load.latencyMs.p99, 2)} | ${fmt(pct(r), 2)}% | ${r.held ? 'yes' : 'no'}`).join(' | ')} |`)
    }
    summary.push('')
    for (const name of names) {
      const held = walks.filter((w) => w.runs.find((r) => r.server === name)?.held).map((w) => w.scenario.users)
      summary.push(`- largest U holding p99 ≤ ${p99Limit} ms with every broadcast delivered, ${name}: ${held.length > 0 ? Math.max(...held) : 'none of the steps'}`)
    }
  }
  if (summary.length > 0) {
    process.stdout.write(`#### Steps\n\n${summary.join('\n')}\n\n`)
    out.push('#### Steps', '', ...summary, '')
  }

  if (args.out !== undefined) {
    if (!existsSync(args.out)) writeFileSync(args.out, '# Plaza benchmark results\n\n')
    appendFileSync(args.out, `${out.join('\n')}\n`)
    process.stderr.write(`appended to ${args.out}\n`)
  }
  if (args.json !== undefined) {
    writeFileSync(args.json, JSON.stringify({ command, machine: header, redisUrl, keyPrefixes: usedPrefixes, results }, null, 2))
  }
}

try {
  await main()
  await cleanup()
} catch (err) {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
  await cleanup()
  process.exitCode = 1
}
