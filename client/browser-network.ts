/**
 * The browser's view of its network, where there is one; Node has none, and is always online.
 * A browser can be wrong about it, so it is a hint, never a reason to give up.
 */
type NetworkEventTarget = {
  addEventListener?: (type: string, listener: () => void) => void
  removeEventListener?: (type: string, listener: () => void) => void
}

export const browserOnline = (): boolean => (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine !== false

/** The `online` and `offline` events of the page, heard between listen() and stop(). */
export class NetworkEvents {
  readonly #onOnline: () => void
  readonly #onOffline: () => void

  constructor (onOnline: () => void, onOffline: () => void) {
    this.#onOnline = onOnline
    this.#onOffline = onOffline
  }

  listen (): void {
    const target = globalThis as NetworkEventTarget
    target.addEventListener?.('online', this.#onOnline)
    target.addEventListener?.('offline', this.#onOffline)
  }

  stop (): void {
    const target = globalThis as NetworkEventTarget
    target.removeEventListener?.('online', this.#onOnline)
    target.removeEventListener?.('offline', this.#onOffline)
  }
}
