import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { PrivateRedis } from './private-redis.js'
import { freePort, killOnExit } from './process.js'

const execFileAsync = promisify(execFile)

/** The master name the Sentinels watch (REDIS_SENTINEL_NAME's default). */
export const SENTINEL_NAME = 'mymaster'

/**
 * A primary, its replica and three Sentinels (quorum 2), each on a free port of its own, that fail
 * over within a few seconds of the primary's death (down after 1 s, failover timeout 3 s). Everything
 * is killed when the test ends, and when the test process exits.
 */
export class SentinelRedis {
  readonly primary: PrivateRedis
  readonly replica: PrivateRedis
  readonly sentinelPorts: number[]

  private constructor (primary: PrivateRedis, replica: PrivateRedis, sentinelPorts: number[]) {
    this.primary = primary
    this.replica = replica
    this.sentinelPorts = sentinelPorts
  }

  static async start (t: Test): Promise<SentinelRedis> {
    const [primary, replica] = await Promise.all([PrivateRedis.start(t), PrivateRedis.start(t)])
    // Without persistence the first sync is diskless, which by default waits 5 s for more replicas.
    await primary.cli('config', 'set', 'repl-diskless-sync-delay', '0')
    // And the replica loads it from the socket, leaving no dump.rdb in the working directory.
    await replica.cli('config', 'set', 'repl-diskless-load', 'on-empty-db')
    await replica.cli('replicaof', '127.0.0.1', String(primary.port))
    await until(async () => (await replica.cli('info', 'replication')).includes('master_link_status:up'), 'the replica to sync')
    // Sentinel rewrites its configuration file: each gets one in a directory of the test's own.
    const dir = mkdtempSync(join(tmpdir(), 'plaza-sentinel-'))
    const children: ChildProcess[] = []
    t.teardown(async () => {
      await Promise.all(children.map(stop))
      rmSync(dir, { recursive: true, force: true })
    })
    const ports = await Promise.all([0, 1, 2].map(() => freePort()))
    for (const port of ports) {
      const file = join(dir, `sentinel-${port}.conf`)
      writeFileSync(file, [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
        `sentinel failover-timeout ${SENTINEL_NAME} 3000`,
        `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
        ''
      ].join('\n'))
      const child = spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' })
      child.on('error', () => { /* seen as a Sentinel that never answers */ })
      killOnExit(child)
      children.push(child)
    }
    const sentinel = new SentinelRedis(primary, replica, ports)
    // Ready to fail over: every Sentinel sees the replica and the two other Sentinels (they vote).
    await until(async () => {
      const views = await Promise.all(ports.map((port) => sentinel.cli(port, 'sentinel', 'master', SENTINEL_NAME).catch(() => '')))
      return views.every((view) => field(view, 'num-slaves') === '1' && field(view, 'num-other-sentinels') === '2')
    }, 'the Sentinels to see the replica and each other', 15_000)
    return sentinel
  }

  /** REDIS_SENTINELS for these Sentinels. */
  get sentinels (): string {
    return this.sentinelPorts.map((port) => `127.0.0.1:${port}`).join(',')
  }

  /** The port of the primary, as the first Sentinel that answers names it. */
  async primaryPort (): Promise<number> {
    for (const port of this.sentinelPorts) {
      const reply = await this.cli(port, 'sentinel', 'get-master-addr-by-name', SENTINEL_NAME).catch(() => '')
      const [, primaryPort] = reply.split('\n')
      if (primaryPort !== undefined) return Number(primaryPort)
    }
    throw new Error('no Sentinel names a primary')
  }

  /** Resolves when the Sentinels name the replica as the primary (and the replica says so itself). */
  async promoted (timeoutMs: number): Promise<void> {
    await until(async () => await this.primaryPort() === this.replica.port &&
      (await this.replica.cli('role')).startsWith('master'), 'the replica to be promoted', timeoutMs, 20)
  }

  /**
   * Deletes hash fields on the replica only, as if it had not received their last writes: what a
   * failover loses. The replica takes writes of its own for this (the primary's keep coming).
   */
  async loseOnReplica (key: string, ...fields: string[]): Promise<void> {
    await this.replica.cli('config', 'set', 'replica-read-only', 'no')
    await this.replica.cli('hdel', key, ...fields)
  }

  async cli (port: number, ...args: string[]): Promise<string> {
    const { stdout } = await execFileAsync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 2000 })
    return stdout.trim()
  }
}

/** A value of `SENTINEL MASTER`'s reply (name and value on alternate lines). */
function field (reply: string, name: string): string | undefined {
  const lines = reply.split('\n')
  const at = lines.indexOf(name)
  return at === -1 ? undefined : lines[at + 1]
}

async function until (check: () => Promise<boolean>, what: string, timeoutMs = 5000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check().catch(() => false)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}
