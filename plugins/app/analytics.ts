import fp from 'fastify-plugin'
import { SpaceAnalytics } from '../../src/analytics/space-analytics.js'
import { redisKeys } from '../../src/keys.js'
import { createSessionMetrics, type PrometheusSessionMetrics } from '../../src/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    analytics: SpaceAnalytics
    /** The sessions' Prometheus counter and histogram, fed by the analytics, exposed by the metrics plugin. */
    sessionMetrics: PrometheusSessionMetrics
  }
}

/** Space analytics (`fastify.analytics`, PROTOCOL §11): figures by space and UTC day, in Redis. */
export default fp(async function analytics (fastify) {
  const { config, redis, log } = fastify
  const sessionMetrics = createSessionMetrics(config.METRICS_MAX_SPACES)
  const recorder = new SpaceAnalytics({
    redis,
    keys: redisKeys(config.KEY_PREFIX),
    log,
    retentionDays: config.ANALYTICS_RETENTION_DAYS,
    metrics: sessionMetrics
  })
  // Registered before the room manager, so closed after it: its last sessions are written too.
  fastify.addHook('onClose', async () => { await recorder.close() })
  fastify.decorate('analytics', recorder)
  fastify.decorate('sessionMetrics', sessionMetrics)
}, { name: 'analytics', dependencies: ['config', 'redis'] })
