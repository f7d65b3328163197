import fp from 'fastify-plugin'
import { REDIS_PROBE_TIMEOUT_MS, redisLatencyMs } from '../../http/redis-latency.js'
import { createMetrics, type Metrics } from '../../src/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** Prometheus metrics (`fastify.metrics`), read from the room manager and Redis at scrape time. */
export default fp(async function metrics (fastify) {
  const { config, redis, roomManager, presence, sessionMetrics } = fastify
  fastify.decorate('metrics', createMetrics({
    counters: roomManager.counters,
    localStats: () => roomManager.stats(),
    clusterTotals: () => presence.totals(),
    storeFaults: () => presence.faults(),
    redisLatencyMs: () => redisLatencyMs(redis, REDIS_PROBE_TIMEOUT_MS),
    maxSpaceLabels: config.METRICS_MAX_SPACES,
    sessions: sessionMetrics
  }))
}, { name: 'metrics', dependencies: ['config', 'redis', 'room-manager', 'analytics'] })
