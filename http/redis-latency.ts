import type { Redis } from 'ioredis'

/** How long a health check or a scrape waits for Redis before calling it down. */
export const REDIS_PROBE_TIMEOUT_MS = 600

/**
 * One Redis round trip in ms (two decimals), or null when Redis did not answer within `timeoutMs`:
 * the caller answers in time even when Redis hangs.
 */
export async function redisLatencyMs (redis: Redis, timeoutMs: number): Promise<number | null> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs) })
  try {
    const answered = await Promise.race([redis.ping().then(() => true, () => false), timeout])
    return answered === true ? Math.round((performance.now() - started) * 100) / 100 : null
  } finally {
    clearTimeout(timer)
  }
}
