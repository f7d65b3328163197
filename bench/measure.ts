/**
 * One run: a scenario's load against one server, and the figures of its measured window (the walk's
 * window, or the join storm), from the generator, /proc, the server's own counters and Redis.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Redis } from 'ioredis'
import { redisKeys } from '../src/keys.js'
import { ChatAppends } from './chat-appends.js'
import { type LoadHooks, type LoadOptions, type LoadResult, runLoad } from './load.js'
import type { BenchOptions, Scenario } from './options.js'
import { cpuSeconds, machineBusy, rssBytes } from './procfs.js'
import type { Lag, Server } from './servers.js'

/** How long and how fast the users of a --rejoin storm walk before each cut (slowly: the cut finds no backlog), and how many cuts. */
export const REJOIN_WALK_S = 2
export const REJOIN_WALK_HZ = 1
export const REJOIN_CUTS = 2

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
  /**
   * With chats, Plaza and --private-redis: calls of chat-append.lua in the window (bench/chat-appends.ts),
   * and the commands they ran (each: its EVALSHA and EXPIRE, and an XADD and a PUBLISH per message,
   * the XADDs counted by INFO commandstats); the commands per accepted move without them, and per
   * chat message (per XADD).
   */
  chatScriptCalls: number
  redisChatCommands: number
  redisPerMoveChatApart: number
  redisPerChat: number
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

export type MeasureOptions = Pick<BenchOptions, 'dialect' | 'width' | 'height' | 'drainS' | 'connectConcurrency' | 'perAddress' | 'p99Limit'> & {
  /** The private redis-server's pid (--private-redis), whose CPU is then measured too. */
  redisPid?: number
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

/** What /proc says, read at once at the window's start and end. */
interface ProcReading {
  at: number
  cpu: number
  mainThread: number
  redisCpu: number
  machine: { busy: number, steal: number }
}

/** What the server and Redis answer at the window's start and end; each may be missing. */
interface ServerReading {
  redisCalls: Map<string, number> | undefined
  redisCallsAt: number
  acceptedMoves: number
  resumedJoins: number
}

const unread = (machine: ProcReading['machine']): ProcReading => ({ at: 0, cpu: Number.NaN, mainThread: Number.NaN, redisCpu: Number.NaN, machine })
const unanswered: ServerReading = { redisCalls: undefined, redisCallsAt: 0, acceptedMoves: Number.NaN, resumedJoins: Number.NaN }
const noLag: Lag = { p99Ms: Number.NaN, maxMs: Number.NaN }

/**
 * The readings of a measured window, taken by the load's hooks. What /proc says is always read, at
 * once (after the scrapes at the start, before them at the end); what the server or Redis must answer
 * may fail (an overloaded server may not answer in time): that figure is then missing, the others are
 * not. A window that never ends leaves its figures missing (NaN), not wrong.
 */
class Window {
  procStart = unread(machineBusy())
  procEnd = this.procStart
  serverStart = unanswered
  serverEnd = unanswered
  /** The generator's (this process's) CPU in the window. */
  generator = { user: Number.NaN, system: Number.NaN }
  rss = Number.NaN
  lag = noLag
  #lagValid = false
  #generatorStart = process.cpuUsage()
  readonly #server: Server
  readonly #redisPid: number | undefined

  /** With chats and a private Redis: the chat script's calls in the window. */
  readonly chatCalls: ChatAppends | undefined

  constructor (server: Server, redisPid: number | undefined, chatSpaces: number) {
    this.#server = server
    this.#redisPid = server.redis !== undefined ? redisPid : undefined
    const { redis, keyPrefix } = server
    if (chatSpaces > 0 && redis !== undefined && keyPrefix !== undefined && this.#redisPid !== undefined) {
      const keys = redisKeys(keyPrefix)
      const streams = new Set(Array.from({ length: chatSpaces }, (_, i) => keys.spaceChat(`bench-${i}`)))
      this.chatCalls = new ChatAppends(redis, (key) => streams.has(key))
    }
  }

  begin = async (): Promise<void> => {
    this.#lagValid = await this.#server.lagReset().then(() => true, (err: unknown) => {
      this.#warn('event-loop lag', err)
      return false
    })
    const counters = await this.#readCounters()
    await this.chatCalls?.start().catch((err: unknown) => this.#warn('chat script calls (keyspace events)', err))
    this.serverStart = { ...counters, ...await this.#readRedisCalls() }
    // The CPU window opens after the scrapes above, which Plaza answers and a bare baseline does not.
    this.procStart = this.#readProc('process first')
    this.#generatorStart = process.cpuUsage()
  }

  end = async (): Promise<void> => {
    this.procEnd = this.#readProc('main thread first')
    this.generator = process.cpuUsage(this.#generatorStart)
    this.rss = rssBytes(this.#server.pid)
    const redisCalls = await this.#readRedisCalls()
    await this.chatCalls?.stop()
    // Without the reset at the start, what the server answers is not this window's lag.
    this.lag = this.#lagValid
      ? await this.#server.lagRead().catch((err: unknown) => {
        this.#warn('event-loop lag', err)
        return noLag
      })
      : noLag
    this.serverEnd = { ...redisCalls, ...await this.#readCounters() }
  }

  /** The main thread's window lies within the whole process's: the process is read first at the start, last at the end. */
  #readProc (order: 'process first' | 'main thread first'): ProcReading {
    const { pid } = this.#server
    let cpu: number
    let mainThread: number
    if (order === 'process first') {
      cpu = cpuSeconds(pid)
      mainThread = cpuSeconds(pid, true)
    } else {
      mainThread = cpuSeconds(pid, true)
      cpu = cpuSeconds(pid)
    }
    const redisCpu = this.#redisPid !== undefined ? cpuSeconds(this.#redisPid) : Number.NaN
    return { cpu, mainThread, redisCpu, machine: machineBusy(), at: performance.now() }
  }

  async #readCounters (): Promise<Pick<ServerReading, 'acceptedMoves' | 'resumedJoins'>> {
    const { acceptedMoves, resumedJoins } = this.#server
    return {
      acceptedMoves: acceptedMoves === undefined ? Number.NaN : await acceptedMoves().catch(() => Number.NaN),
      resumedJoins: resumedJoins === undefined ? Number.NaN : await resumedJoins().catch(() => Number.NaN)
    }
  }

  async #readRedisCalls (): Promise<Pick<ServerReading, 'redisCalls' | 'redisCallsAt'>> {
    const { redis } = this.#server
    if (redis === undefined) return { redisCalls: undefined, redisCallsAt: 0 }
    const calls = await redisCalls(redis).catch(() => undefined)
    return { redisCalls: calls, redisCallsAt: performance.now() }
  }

  #warn (what: string, err: unknown): void {
    process.stderr.write(`  [${this.#server.name}] ${what}: ${(err as Error).message}\n`)
  }
}

export async function measure (server: Server, scenario: Scenario, options: MeasureOptions): Promise<Figures> {
  const rssIdle = rssBytes(server.pid)
  const troubleBefore = server.trouble().count
  const window = new Window(server, options.redisPid, (scenario.chatEveryS ?? 0) > 0 ? scenario.spaces : 0)
  const hooks: LoadHooks = scenario.mode === 'walk' ? { measureStart: window.begin, measureEnd: window.end } : { joinStart: window.begin, joinEnd: window.end }
  const load = await runScenario(server, scenario, options, hooks)
  const troubleLines = await troubleSince(server, troubleBefore)
  return figures(server, load, window, rssIdle, troubleLines, options.p99Limit)
}

/** The scenario's load; with --rejoin, after the same users joined, walked and all dropped, as often as REJOIN_CUTS says. */
async function runScenario (server: Server, scenario: Scenario, options: MeasureOptions, hooks: LoadHooks): Promise<LoadResult> {
  const load: LoadOptions = {
    url: server.wsUrl,
    dialect: options.dialect,
    users: scenario.users,
    spaces: scenario.spaces,
    spaceId: (i) => `bench-${i}`,
    hz: scenario.hz,
    ...(scenario.chatEveryS !== undefined ? { chatEveryS: scenario.chatEveryS } : {}),
    warmupS: scenario.warmupS,
    durationS: scenario.durationS,
    drainS: options.drainS,
    token: server.token,
    userIdPrefix: `b${randomBytes(3).toString('hex')}_`,
    spaceWidth: options.width,
    spaceHeight: options.height,
    connectConcurrency: options.connectConcurrency,
    joinConcurrency: scenario.joinConcurrency ?? 0,
    joinTimeoutS: 60,
    perAddress: options.perAddress,
    log: (line) => process.stderr.write(`  [${server.name}] ${line}\n`)
  }
  if (scenario.rejoin === true) {
    // Everyone joins, walks and drops (their sockets close, as in a network cut), more than once, so
    // that the server has seen each path (joins, resumes, moves, flushes, drops) as one up for a while has.
    for (let cut = 0; cut < REJOIN_CUTS; cut++) {
      const before = await runLoad({ ...load, hz: REJOIN_WALK_HZ, durationS: REJOIN_WALK_S })
      if (before.joined !== before.users) process.stderr.write(`  [${server.name}] ${before.users - before.joined} users failed to join before cut ${cut + 1}\n`)
    }
  }
  return runLoad({ ...load, hooks })
}

/** The lines of warnings or worse the server printed since `before` of them (the last few), also shown. */
async function troubleSince (server: Server, before: number): Promise<string[]> {
  // The run's last lines may still be in the server's log batch.
  if (server.logDelayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, server.logDelayMs as number + 50))
  const trouble = server.trouble()
  const lines = trouble.count > before ? trouble.last.slice(-(trouble.count - before)) : []
  if (lines.length > 0) {
    process.stderr.write(`  [${server.name}] printed ${trouble.count - before} line(s) of warnings or worse during the run; the last:\n${lines.map((l) => `    ${l.slice(0, 400)}`).join('\n')}\n`)
  }
  return lines
}

function figures (server: Server, load: LoadResult, window: Window, rssIdle: number, serverTrouble: string[], p99Limit: number): Figures {
  const { procStart: start, procEnd: end, serverStart, serverEnd, generator, rss, lag } = window
  const users = load.joined
  const seconds = (end.at - start.at) / 1000
  const cpu = end.cpu - start.cpu
  const generatorS = (generator.user + generator.system) / 1e6
  const { total: redisCommands, byCommand } = callsBetween(serverStart.redisCalls, serverEnd.redisCalls)
  const redisCpu = end.redisCpu - start.redisCpu
  const chats = load.chats
  const held = load.joined === load.users && load.broadcasts.expected > 0 &&
    load.broadcasts.delivered === load.broadcasts.expected && load.latencyMs.p99 <= p99Limit &&
    (chats === undefined || chats.delivered === chats.expected)
  const chatScriptCalls = window.chatCalls?.calls ?? Number.NaN
  const commandsOf = (name: string): number => byCommand.find(([c]) => c === name)?.[1] ?? 0
  const chatMessages = commandsOf('xadd')
  // What chat-append.lua runs (the call's EVALSHA and EXPIRE, an XADD and a PUBLISH per message): a PUBLISH of anything else stays with the moves.
  const redisChatCommands = 2 * chatScriptCalls + 2 * chatMessages
  return {
    server: server.name,
    load,
    cpuPct: cpu / seconds * 100,
    cpuUsPerUserS: cpu / seconds / users * 1e6,
    cpuMs: cpu * 1000,
    // The process's time less its main thread's: V8's compiler and GC helpers and libuv's pool, threads
    // that ended meanwhile included. Each reading is rounded down to a clock tick, so a window in which
    // the other threads did next to nothing may come out a tick below zero: zero.
    cpuOtherThreadsMs: Math.max(0, cpu - (end.mainThread - start.mainThread)) * 1000,
    generatorCpuMs: generatorS * 1000,
    resumedJoins: serverEnd.resumedJoins - serverStart.resumedJoins,
    rssMB: rss / 2 ** 20,
    rssIdleMB: rssIdle / 2 ** 20,
    rssPerUserKB: (rss - rssIdle) / users / 1024,
    redisCommands,
    redisPerS: redisCommands / ((serverEnd.redisCallsAt - serverStart.redisCallsAt) / 1000),
    redisPerMove: redisCommands / load.moves.accepted,
    redisPerJoin: redisCommands / users,
    redisByCommand: byCommand,
    chatScriptCalls,
    redisChatCommands,
    redisPerMoveChatApart: (redisCommands - redisChatCommands) / load.moves.accepted,
    redisPerChat: redisChatCommands / chatMessages,
    serverTrouble,
    serverAcceptedMoves: serverEnd.acceptedMoves - serverStart.acceptedMoves,
    lag,
    otherCpuPct: Math.max(0, end.machine.busy - start.machine.busy - cpu - generatorS - (Number.isFinite(redisCpu) ? redisCpu : 0)) / seconds * 100,
    redisCpuPct: redisCpu / seconds * 100,
    stealPct: (end.machine.steal - start.machine.steal) / seconds * 100,
    held,
    repeats: []
  }
}

/** The median run by p99 (walk) or join-storm time; of two, the better. */
export function median (tries: Figures[], scenario: Scenario): Figures {
  const key = (f: Figures): number => {
    const v = scenario.mode === 'walk' ? f.load.latencyMs.p99 : f.load.joinStormMs
    return Number.isFinite(v) && f.load.joined === f.load.users ? v : Number.POSITIVE_INFINITY
  }
  const sorted = [...tries].sort((a, b) => key(a) - key(b))
  const chosen = sorted[Math.floor((sorted.length - 1) / 2)] as Figures
  return { ...chosen, repeats: tries.map((f) => [scenario.mode === 'walk' ? f.load.latencyMs.p99 : f.load.joinStormMs, f.otherCpuPct]) }
}
