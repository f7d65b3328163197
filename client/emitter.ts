/** A small typed event emitter that runs the same in browsers and Node. */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>()

  /** Calls `listener` on each `event`; returns a function that stops it. */
  on<K extends keyof Events> (event: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.#listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener as (payload: never) => void)
    return () => { set.delete(listener as (payload: never) => void) }
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof Events> (event: K, listener: (payload: Events[K]) => void): () => void {
    const off = this.on(event, (payload) => {
      off()
      listener(payload)
    })
    return off
  }

  protected emit<K extends keyof Events> (event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event)
    if (set === undefined) return
    for (const listener of [...set]) {
      try {
        (listener as (payload: Events[K]) => void)(payload)
      } catch (err) {
        // A listener's bug must not break the connection logic that called it.
        queueMicrotask(() => { throw err })
      }
    }
  }
}
