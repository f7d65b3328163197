/**
 * How often Redis ran one Lua script on a server's keys between two INFO commandstats readings.
 * INFO commandstats counts every EVALSHA as one, whatever the script; MONITOR shows each call with
 * its script's SHA1 and its keys, in the order Redis ran them, our own INFO included: the calls
 * counted are exactly those between the two readings. The MONITOR connection costs Redis a line per
 * command, which is little at the few hundred commands a second of a walk.
 */
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'

const MARK_TIMEOUT_MS = 2000

export class ScriptCalls {
  /** Calls between the first and the second INFO commandstats of `redis`, once `stop` resolved; NaN if unknown. */
  calls = Number.NaN
  readonly #redis: Redis
  readonly #sha: string
  readonly #lua: string
  readonly #keyPrefix: string
  #monitor: Redis | undefined
  #marks = 0
  #count = 0
  #secondMark: () => void = () => {}

  /** `lua`: the script's text as the server defines it; `keyPrefix`: its first key's prefix (the server's KEY_PREFIX). */
  constructor (redis: Redis, lua: string, keyPrefix: string) {
    this.#redis = redis
    this.#lua = lua
    this.#sha = createHash('sha1').update(lua).digest('hex')
    this.#keyPrefix = keyPrefix
  }

  /** Starts listening: call before the first INFO commandstats. */
  async start (): Promise<void> {
    // Redis names a client by its address and port: the port is enough on one machine.
    const self = `:${this.#redis.stream.localPort}`
    const monitor = await this.#redis.monitor()
    monitor.on('error', () => {})
    this.#monitor = monitor
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const [command, script, , key] = args
      if (source.endsWith(self) && command?.toLowerCase() === 'info' && args[1]?.toLowerCase() === 'commandstats') {
        if (++this.#marks === 2) this.#secondMark()
      } else if (this.#marks === 1 && key?.startsWith(this.#keyPrefix) === true) {
        const name = command?.toLowerCase()
        if ((name === 'evalsha' && script === this.#sha) || (name === 'eval' && script === this.#lua)) this.#count++
      }
    })
  }

  /** Stops listening, once the second INFO commandstats was seen (or after a while: the count is then unknown). */
  async stop (): Promise<void> {
    const monitor = this.#monitor
    if (monitor === undefined) return
    let timer: NodeJS.Timeout | undefined
    const seen = this.#marks >= 2 || await Promise.race([
      new Promise<boolean>((resolve) => { this.#secondMark = () => resolve(true) }),
      new Promise<boolean>((resolve) => { timer = setTimeout(resolve, MARK_TIMEOUT_MS, false) })
    ])
    clearTimeout(timer)
    monitor.disconnect()
    this.#monitor = undefined
    this.calls = seen ? this.#count : Number.NaN
  }
}
