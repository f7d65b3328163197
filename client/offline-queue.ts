/** A message the client could not send yet: its wire type and payload. */
export interface QueuedMessage {
  type: string
  payload: Record<string, unknown>
}

/**
 * What was sent while the connection was down, kept in order to be sent once the space is joined
 * again. Bounded (the oldest is dropped first) and holding at most one move: only the latest
 * position matters, so a new move replaces the one waiting.
 */
export class OfflineQueue {
  readonly #limit: number
  #messages: QueuedMessage[] = []
  /** Messages dropped because the queue was full (moves replaced by a newer one are not counted). */
  dropped = 0

  constructor (limit: number) {
    this.#limit = Math.max(1, limit)
  }

  get size (): number {
    return this.#messages.length
  }

  push (message: QueuedMessage): void {
    if (message.type === 'move') this.#messages = this.#messages.filter((m) => m.type !== 'move')
    this.#messages.push(message)
    while (this.#messages.length > this.#limit) {
      this.#messages.shift()
      this.dropped++
    }
  }

  /** Everything waiting, in order; the queue is empty afterwards. */
  drain (): QueuedMessage[] {
    const messages = this.#messages
    this.#messages = []
    return messages
  }

  clear (): void {
    this.#messages = []
  }
}
