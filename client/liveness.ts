import type { ConnectionSettings } from './connection-options.js'
import { Timer } from './timer.js'

export type DeadReason = 'connect timeout' | 'heartbeat timeout'

type LivenessSettings = Pick<ConnectionSettings, 'connectTimeoutMs' | 'heartbeatIntervalMs' | 'heartbeatTimeoutMs'>

/**
 * Tells a dead connection from a quiet one, since a cut network often gives no close event for
 * minutes: a join must be answered within connectTimeoutMs, and in the space a heartbeat goes out
 * every heartbeatIntervalMs, after which something must be heard within heartbeatTimeoutMs.
 */
export class Liveness {
  readonly #settings: LivenessSettings
  readonly #sendHeartbeat: () => void
  readonly #dead: (reason: DeadReason) => void
  readonly #deadline = new Timer()
  #heartbeat: ReturnType<typeof setInterval> | undefined

  constructor (settings: LivenessSettings, sendHeartbeat: () => void, dead: (reason: DeadReason) => void) {
    this.#settings = settings
    this.#sendHeartbeat = sendHeartbeat
    this.#dead = dead
  }

  /** A join is on its way (on a new connection or the same one): it must be answered in time. */
  awaitJoin (): void {
    this.#stopHeartbeat()
    this.#deadline.start(this.#settings.connectTimeoutMs, () => { this.#dead('connect timeout') })
  }

  /** Something was heard: the connection is alive. */
  heard (): void {
    this.#deadline.clear()
  }

  /** In the space: heartbeats from now on. */
  startHeartbeat (): void {
    this.#stopHeartbeat()
    this.#heartbeat = setInterval(() => {
      this.#sendHeartbeat()
      if (!this.#deadline.pending) this.#deadline.start(this.#settings.heartbeatTimeoutMs, () => { this.#dead('heartbeat timeout') })
    }, this.#settings.heartbeatIntervalMs)
  }

  stop (): void {
    this.#deadline.clear()
    this.#stopHeartbeat()
  }

  #stopHeartbeat (): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
  }
}
