import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { freePort, killOnExit } from './process.js'

const execFileAsync = promisify(execFile)

/** A Redis server of the test's own, to freeze, kill, flush and restart without touching anyone else's. */
export class PrivateRedis {
  readonly port: number
  #child: ChildProcess | undefined

  private constructor (port: number) {
    this.port = port
  }

  /** Starts redis-server on a free port; it is killed when the test ends, whatever state it is in. */
  static async start (t: Test): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort())
    t.teardown(() => redis.stop('SIGKILL'))
    await redis.start()
    return redis
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** (Re)starts the server on the same port, empty, and waits until it answers PING. */
  async start (): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' })
    this.#child = child
    killOnExit(child)
    child.on('error', () => { /* seen as an exit below */ })
    const deadline = Date.now() + 5000
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server on port ${this.port} exited at start`)
      if (await this.cli('ping').catch(() => '') === 'PONG') return
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer PING within 5 s`)
      await sleep(50)
    }
  }

  /** Runs one redis-cli command against it and resolves to its output, trimmed. */
  async cli (...args: string[]): Promise<string> {
    const { stdout } = await execFileAsync('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), ...args], { timeout: 2000 })
    return stdout.trim()
  }

  signal (signal: NodeJS.Signals): void {
    this.#child?.kill(signal)
  }

  /** A client of the test's own on this server, disconnected when the test ends. */
  client (t: Test): Redis {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1 })
    client.on('error', () => { /* the test kills this server on purpose */ })
    t.teardown(() => { client.disconnect() })
    return client
  }

  /** Sends `signal` and waits for the process to exit (SIGKILL ends even a stopped process). */
  async stop (signal: NodeJS.Signals): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill(signal)
    await exited
  }
}
