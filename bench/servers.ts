/**
 * The servers the bench measures, each a child process on a free port: Plaza (its spaces defined,
 * its keys under a prefix of its own), the bare baselines of bench/baseline-server.ts, and the
 * private redis-server of --private-redis.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { EnvSchema } from '../src/config.js'
import { hs256Tokens } from './load.js'
import type { Baseline, BenchOptions } from './options.js'
import { type ChildOutput, deleteAtCleanup, deletePrefix, freePort, http, spawnChild, stopChild, temporaryFolder, waitHealthy } from './processes.js'

/** Plaza's entry point, as `npm start` runs it (compiled: the same path under dist/, in .js). */
export const PLAZA_ENTRY = 'server/main.ts'

export interface Lag { p99Ms: number, maxMs: number }

export interface Server {
  name: string
  pid: number
  wsUrl: string
  /** The join token of a user. */
  token: (userId: string) => string
  /** Starts a new event-loop lag window. */
  lagReset: () => Promise<void>
  /** The event-loop delay since lagReset, beyond the 10 ms timer resolution. */
  lagRead: () => Promise<Lag>
  /** Moves the server says it accepted so far (Plaza's counter), when it says. */
  acceptedMoves?: () => Promise<number>
  /** Joins that resumed a ghost where it stood, so far (Plaza's counter). */
  resumedJoins?: () => Promise<number>
  redis?: Redis
  /** Plaza's keys live under this prefix, deleted when it stops. */
  keyPrefix?: string
  /** What the server printed so far. */
  output: () => string
  trouble: ChildOutput['trouble']
  /** How long the server may hold a log line before writing it (Plaza: its LOG_FLUSH_MS). */
  logDelayMs?: number
  stop: () => Promise<void>
}

export type ServerOptions = Pick<BenchOptions, 'width' | 'height' | 'cpuProfileDir' | 'fromSource'>

/** Plaza runs with its default LOG_FLUSH_MS. */
const PLAZA_LOG_FLUSH_MS = Number(Reflect.get(EnvSchema.properties.LOG_FLUSH_MS, 'default'))

const JWT_SECRET = randomBytes(32).toString('base64url')
const ADMIN_TOKEN = randomBytes(24).toString('base64url')
/** Plaza checks the signature; the baselines read the claims without checking. */
const tokens = hs256Tokens(JWT_SECRET)
const LAG_RESOLUTION_S = 0.01

function metric (text: string, name: string): number {
  const escaped = name.replace(/[{}"=]/g, (c) => `\\${c}`)
  const match = new RegExp(`^${escaped} ([^\\s]+)$`, 'm').exec(text)
  return match === null ? Number.NaN : Number(match[1])
}

/**
 * node's arguments to run `source` as `npm start` runs Plaza: compiled by tsc into dist/ (built once
 * per bench run), without the tsx loader, which costs Plaza and the baseline differently (a call per
 * closure made); --from-source runs it from TypeScript through tsx instead. With --cpu-prof DIR, a V8
 * CPU profile of the run is written when it exits, in a folder named after the server and the time
 * (node writes one file per thread: the main one is the largest).
 */
function nodeArgs (name: string, source: string, options: ServerOptions): string[] {
  const dir = options.cpuProfileDir
  return [
    ...(dir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(dir, `${name}-${Date.now()}`)]),
    ...(options.fromSource ? ['--import', 'tsx', source] : [join('dist', source.replace(/\.ts$/, '.js'))])
  ]
}

let logs: string | undefined
/** Where Plaza's log files go, one per server started. */
const logFolder = (): string => {
  logs ??= temporaryFolder('plaza-bench-logs-')
  return logs
}

export async function startPlaza (redisUrl: string, spaces: number, options: ServerOptions, redisHolder?: ChildProcess): Promise<Server> {
  const port = await freePort()
  const prefix = `bench:${randomBytes(4).toString('hex')}:`
  deleteAtCleanup(redisUrl, prefix, redisHolder)
  const { child, output, trouble } = spawnChild(process.execPath, nodeArgs('plaza', PLAZA_ENTRY, options), {
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET,
    ADMIN_TOKEN,
    KEY_PREFIX: prefix,
    REDIS_URL: redisUrl
  }, join(logFolder(), `plaza-${prefix.split(':')[1] ?? ''}.log`))
  child.stdin?.end()
  const base = `http://127.0.0.1:${port}`
  await waitHealthy(`${base}/healthz`, child, output)
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
  for (let i = 0; i < spaces; i++) {
    const put = await http(`${base}/admin/spaces/bench-${i}`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ width: options.width, height: options.height })
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
    token: tokens,
    lagReset: async () => { await scrape() },
    lagRead: async () => {
      const text = await scrape()
      return {
        p99Ms: Math.max(0, metric(text, 'nodejs_eventloop_lag_p99_seconds') - LAG_RESOLUTION_S) * 1000,
        maxMs: Math.max(0, metric(text, 'nodejs_eventloop_lag_max_seconds') - LAG_RESOLUTION_S) * 1000
      }
    },
    acceptedMoves: async () => metric(await scrape(), 'plaza_moves_total{result="accepted"}'),
    resumedJoins: async () => metric(await scrape(), 'plaza_joins_total{kind="resume"}'),
    redis,
    keyPrefix: prefix,
    output,
    trouble,
    logDelayMs: PLAZA_LOG_FLUSH_MS,
    stop: async () => {
      redis.disconnect()
      await stopChild(child, 12_000)
      await deletePrefix(redisUrl, prefix).catch(() => { /* the cleanup tries again */ })
    }
  }
}

export async function startBaseline (variant: Baseline, options: ServerOptions): Promise<Server> {
  const port = await freePort()
  const argv = [...nodeArgs(`baseline-${variant}`, 'bench/baseline-server.ts', options), '--port', String(port), '--host', '127.0.0.1',
    '--width', String(options.width), '--height', String(options.height), '--parent-watch', ...(variant === 'plain' ? [] : [`--${variant}`])]
  const { child, output, trouble } = spawnChild(process.execPath, argv, {})
  const base = `http://127.0.0.1:${port}`
  await waitHealthy(`${base}/healthz`, child, output)
  return {
    name: variant === 'plain' ? 'baseline' : `baseline --${variant}`,
    pid: child.pid ?? 0,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    token: tokens,
    lagReset: async () => { await http(`${base}/lag`) },
    lagRead: async () => {
      const lag = JSON.parse((await http(`${base}/lag`)).text) as { p99: number, max: number }
      return { p99Ms: Math.max(0, lag.p99 - LAG_RESOLUTION_S) * 1000, maxMs: Math.max(0, lag.max - LAG_RESOLUTION_S) * 1000 }
    },
    output,
    trouble,
    stop: async () => { await stopChild(child) }
  }
}

export interface PrivateRedis { url: string, child: ChildProcess }

/** A redis-server of the run's own (default configuration, no persistence), so that its counts are Plaza's alone. */
export async function startPrivateRedis (): Promise<PrivateRedis> {
  const port = await freePort()
  const dir = temporaryFolder('plaza-bench-redis-')
  const { child, output } = spawnChild('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {})
  child.stdin?.end()
  const url = `redis://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  for (;;) {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    redis.on('error', () => {})
    try {
      await redis.connect()
      await redis.ping()
      return { url, child }
    } catch {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start:\n${output()}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    } finally {
      redis.disconnect()
    }
  }
}
