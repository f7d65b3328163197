/** When to try again after a connection is lost: exponential backoff with jitter. */
export interface ReconnectOptions {
  /** Delay before the first attempt (ms). Default 1000. */
  initialDelayMs: number
  /** No delay is longer than this (ms). Default 30000. */
  maxDelayMs: number
  /** Each attempt waits this many times longer than the one before. Default 2. */
  factor: number
  /**
   * How far a delay may stray from the schedule, as a fraction of it (0: none; 0.2: ±20%), so that
   * the clients of a restarted server do not all come back in the same millisecond. Default 0.2.
   */
  jitter: number
  /** Attempts before giving up. Default 5. */
  maxAttempts: number
  /**
   * A connection that stays joined this long (ms) starts the count of attempts again. Default 5000:
   * a server that accepts the join and then closes (4029 after a flood, say) is not retried every
   * second forever.
   */
  resetAfterMs: number
}

/** The design's schedule: 1 s → 2 s → 4 s → 8 s → 16 s → 30 s (max), at most 5 attempts. */
export const DEFAULT_RECONNECT: ReconnectOptions = {
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.2,
  maxAttempts: 5,
  resetAfterMs: 5000
}

/**
 * The delay before attempt `attempt` (1 for the first), in ms: initial × factor^(attempt−1), capped
 * at the maximum, then moved by up to ±jitter of itself (and still never above the maximum).
 * `random` returns a number in [0, 1).
 */
export function reconnectDelay (attempt: number, options: ReconnectOptions, random: () => number = Math.random): number {
  const scheduled = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** Math.max(0, attempt - 1))
  const jittered = scheduled * (1 + options.jitter * (2 * random() - 1))
  return Math.round(Math.max(0, Math.min(options.maxDelayMs, jittered)))
}
