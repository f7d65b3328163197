/**
 * The bench's child processes and what they leave behind (Redis keys, temporary folders), undone by
 * `cleanup()` whatever happens: at the end, on an error, or on Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { loopbackAddress } from './load.js'

export const root = new URL('..', import.meta.url).pathname

const children = new Set<ChildProcess>()
/** Key prefixes not yet deleted; `holder` is the private redis-server they live in, if any. */
const prefixes: Array<{ url: string, prefix: string, holder?: ChildProcess }> = []
const folders: string[] = []

const isRunning = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null

export async function stopChild (child: ChildProcess, graceMs = 5000): Promise<void> {
  if (!isRunning(child)) {
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

/** A temporary folder, removed by the cleanup. */
export function temporaryFolder (prefix: string): string {
  const folder = mkdtempSync(join(os.tmpdir(), prefix))
  folders.push(folder)
  return folder
}

/** Keys under `prefix` that the cleanup deletes unless `deletePrefix` did first. */
export function deleteAtCleanup (url: string, prefix: string, holder?: ChildProcess): void {
  prefixes.push({ url, prefix, ...(holder !== undefined ? { holder } : {}) })
}

/** Deletes the keys under `prefix` (SCAN + DEL); the number deleted. */
export async function deletePrefix (url: string, prefix: string): Promise<number> {
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
  const at = prefixes.findIndex((p) => p.prefix === prefix)
  if (at >= 0) prefixes.splice(at, 1)
  return deleted
}

let cleaning: Promise<void> | undefined
export function cleanup (): Promise<void> {
  cleaning ??= (async () => {
    const holders = new Set(prefixes.map((p) => p.holder))
    await Promise.all([...children].filter((c) => !holders.has(c)).map((c) => stopChild(c)))
    for (const { url, prefix, holder } of [...prefixes]) {
      // A private Redis that is gone (Ctrl-C reaches it too) took its keys with it.
      if (holder !== undefined && !isRunning(holder)) continue
      await deletePrefix(url, prefix).catch((err: unknown) => process.stderr.write(`could not delete ${prefix}* keys: ${(err as Error).message}\n`))
    }
    await Promise.all([...children].map((c) => stopChild(c)))
    for (const folder of folders) rmSync(folder, { recursive: true, force: true })
  })()
  return cleaning
}

/** Cleans up on Ctrl-C, SIGTERM and uncaught errors before the process exits. */
export function cleanUpOnExit (): void {
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
}

export async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  return typeof address === 'object' && address !== null ? address.port : 0
}

export interface Trouble { count: number, last: string[] }

/** What a child printed: its recent output, and how many lines were trouble (see `isTrouble`). */
export interface ChildOutput {
  /** The last 10–20 kB printed. */
  output: () => string
  /** Lines of trouble printed so far, and the last few of them. */
  trouble: () => Trouble
}

/** Anything but a pino line below warn: Plaza logs each join and leave at info, its default level. */
function isTrouble (line: string): boolean {
  return line.trim() !== '' && !/^\{"level":[123]0,/.test(line)
}

/** Counts the lines of trouble in text that arrives in pieces (one stream's). */
function troubleCounter (): { feed: (text: string) => void, read: () => Trouble } {
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
 * Starts a child, stopped by the cleanup if still running. Its output goes to `logFile` when given
 * (as a deployment's logs go to a file or a collector, not back into the load generator's process,
 * which would then read every line while it times the run), read back when asked; else it is piped here.
 */
export function spawnChild (command: string, argv: string[], env: Record<string, string>, logFile?: string): { child: ChildProcess } & ChildOutput {
  const fd = logFile === undefined ? undefined : openSync(logFile, 'a')
  const out = fd ?? 'pipe'
  const child = spawn(command, argv, { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', out, out] })
  if (fd !== undefined) closeSync(fd)
  children.add(child)
  child.once('exit', () => children.delete(child))
  return { child, ...(logFile === undefined ? pipedOutput(child) : loggedOutput(logFile)) }
}

function loggedOutput (logFile: string): ChildOutput {
  const counter = troubleCounter()
  let scanned = 0
  return {
    output: () => readFileSync(logFile).subarray(-10_000).toString(),
    trouble: () => {
      const text = readFileSync(logFile)
      counter.feed(text.subarray(scanned).toString())
      scanned = text.length
      return counter.read()
    }
  }
}

function pipedOutput (child: ChildProcess): ChildOutput {
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
    output: () => output,
    trouble: () => {
      const [a, b] = [counters[0].read(), counters[1].read()]
      return { count: a.count + b.count, last: [...a.last, ...b.last].slice(-5) }
    }
  }
}

/** A small HTTP client: the admin routes count requests per address, so admin calls rotate theirs. */
let adminRequests = 0
export function http (url: string, options: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<{ status: number, text: string }> {
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

export async function waitHealthy (url: string, child: ChildProcess, output: () => string): Promise<void> {
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
