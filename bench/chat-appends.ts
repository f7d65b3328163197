/**
 * How many calls of Plaza's chat-append.lua Redis ran over a window. INFO commandstats counts every
 * script's EVALSHA as one command, whichever script it is; but each call of that script ends with
 * one EXPIRE of its space's chat stream, which Redis can announce as a keyspace event. So the calls
 * are the `expire` events on the run's chat streams between `start` and `stop` (a call at either
 * edge may fall on the other side of it, as with INFO commandstats).
 *
 * This sets `notify-keyspace-events` for the window (and puts it back after): only on a Redis of the
 * run's own (--private-redis). Redis then publishes an event for each generic command (a few
 * hundred a second in a walk), to this one subscriber.
 */
import type { Redis } from 'ioredis'

export class ChatAppends {
  /** The calls counted, once `stop` resolved; NaN if unknown. */
  calls = Number.NaN
  readonly #redis: Redis
  readonly #isChatStream: (key: string) => boolean
  #subscriber: Redis | undefined
  #previous: string | undefined
  #count = 0

  constructor (redis: Redis, isChatStream: (key: string) => boolean) {
    this.#redis = redis
    this.#isChatStream = isChatStream
  }

  async start (): Promise<void> {
    const [, previous] = await this.#redis.config('GET', 'notify-keyspace-events') as [string, string]
    this.#previous = previous
    // E: keyevent channels; g: generic commands, EXPIRE among them. Whatever was on stays on.
    await this.#redis.config('SET', 'notify-keyspace-events', [...new Set(`${previous}Eg`)].join(''))
    const subscriber = this.#redis.duplicate()
    subscriber.on('error', () => {})
    this.#subscriber = subscriber
    subscriber.on('message', (_channel: string, key: string) => {
      if (this.#isChatStream(key)) this.#count++
    })
    await subscriber.subscribe(`__keyevent@${this.#redis.options.db ?? 0}__:expire`)
  }

  async stop (): Promise<void> {
    const subscriber = this.#subscriber
    if (subscriber === undefined) return
    this.#subscriber = undefined
    this.calls = this.#count
    subscriber.disconnect()
    if (this.#previous !== undefined) await this.#redis.config('SET', 'notify-keyspace-events', this.#previous).catch(() => {})
  }
}
