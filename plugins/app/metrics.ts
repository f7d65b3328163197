import fp from 'fastify-plugin'
import { redisLatencyMs } from '../../server/health.js'
import { createMetrics, type Metrics } from '../../src/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** How long a health check or a scrape waits for Redis before calling it down. */
export const REDIS_PROBE_TIMEOUT_MS = 600

/** Prometheus metrics (`fastify.metrics`), read from the room manager and Redis at scrape time. */
export default fp(async function metrics (fastify) {
  const { config, redis, roomManager, presence } = fastify
  fastify.decorate('metrics', createMetrics({
    counters: roomManager.counters,
    localStats: () => roomManager.stats(),
    clusterTotals: () => presence.totals(),
    storeFaults: () => presence.faults(),
    redisLatencyMs: () => redisLatencyMs(redis, REDIS_PROBE_TIMEOUT_MS),
    maxSpaceLabels: config.METRICS_MAX_SPACES
  }))
}, { name: 'metrics', dependencies: ['config', 'redis', 'room-manager'] })
