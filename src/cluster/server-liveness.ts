import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import { splitMember } from '../presence/entry.js'
import { definePlazaScripts } from '../scripts/index.js'

export interface Reaped { serverId: string, spaceId: string, userId: string }

export interface ServerLivenessOptions {
  redis: Redis
  keys: RedisKeys
  serverId: string
  /** A server whose heartbeat is older than this is dead. */
  deadAfterMs: number
}

/**
 * Servers' heartbeats in one sorted set (`plaza:servers`), so that the others notice a server that
 * died without a word well before the stale sweep would, and tell its users' peers.
 */
export class ServerLiveness {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #serverId: string
  readonly #deadAfterMs: number

  constructor (options: ServerLivenessOptions) {
    this.#redis = definePlazaScripts(options.redis)
    this.#keys = options.keys
    this.#serverId = options.serverId
    this.#deadAfterMs = options.deadAfterMs
  }

  /**
   * Beats, scored by Redis's own clock (servers' clocks may disagree); true when this server was not
   * in the live set (first beat, or Redis lost it, or it was given up for dead).
   */
  async heartbeat (): Promise<boolean> {
    return await this.#redis.zadd(this.#keys.servers, await this.#now(), this.#serverId) === 1
  }

  /** Every dead server found, reaped: the users it held connected, now ghosts. */
  async reapDead (): Promise<Reaped[]> {
    const cutoff = await this.#now() - this.#deadAfterMs
    const dead = await this.#redis.zrangebyscore(this.#keys.servers, '-inf', cutoff)
    const reaped: Reaped[] = []
    for (const serverId of dead) {
      if (serverId !== this.#serverId) reaped.push(...await this.#reap(serverId, cutoff))
    }
    return reaped
  }

  /**
   * At start: a previous run under this SERVER_ID that never retired (it crashed, and came back
   * before anyone noticed) still has users marked connected. They are ghosts now.
   */
  async reapPreviousLife (): Promise<Reaped[]> {
    return this.#reap(this.#serverId, Number.MAX_SAFE_INTEGER)
  }

  /** Reaps one server (reap-server.lua): its users set is read first, so that the script is given every key it touches. */
  async #reap (serverId: string, cutoff: number): Promise<Reaped[]> {
    const { servers, presenceIndex, ghostIndex } = this.#keys
    const usersSet = this.#keys.serverUsers(serverId)
    const members = await this.#redis.smembers(usersSet)
    const keys = [servers, presenceIndex, ghostIndex, usersSet]
    for (const member of members) {
      const { spaceId } = splitMember(member)
      keys.push(this.#keys.spaceUsers(spaceId), this.#keys.spaceOwners(spaceId))
    }
    const flat = await this.#redis.plazaReapServer(keys.length, keys, [serverId, cutoff, ...members])
    const reaped: Reaped[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) reaped.push({ serverId, spaceId: flat[i] as string, userId: flat[i + 1] as string })
    return reaped
  }

  /** Redis's clock, in ms. */
  async #now (): Promise<number> {
    const [seconds, micros] = await this.#redis.time()
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  }

  /** A clean shutdown: out of the live set (its users were written as ghosts already). */
  async retire (): Promise<void> {
    await this.#redis.pipeline().zrem(this.#keys.servers, this.#serverId).del(this.#keys.serverUsers(this.#serverId)).exec()
  }
}
