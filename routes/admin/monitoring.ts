import type { FastifyInstance } from 'fastify'
import { REDIS_PROBE_TIMEOUT_MS } from '../../plugins/app/metrics.js'
import { redisLatencyMs } from '../../src/health.js'
import { prefersExposition } from '../../src/negotiate.js'

/** Operator monitoring: Redis health, and who is where (JSON, or Prometheus for a scraper). */
export default async function monitoringRoutes (fastify: FastifyInstance): Promise<void> {
  const { config, redis, roomManager, metrics } = fastify

  fastify.get('/health', async (_request, reply) => {
    const latency = await redisLatencyMs(redis, REDIS_PROBE_TIMEOUT_MS)
    const status = latency === null ? 'unhealthy' : 'healthy'
    const { totalUsers, totalSpaces } = roomManager.stats()
    return await reply.code(status === 'healthy' ? 200 : 503).send({
      status,
      latency,
      redis: redis.status,
      serverId: config.serverId,
      uptime: Math.round(process.uptime()),
      users: totalUsers,
      spaces: totalSpaces
    })
  })

  fastify.get('/stats', async (request, reply) => {
    if (prefersExposition(request.headers.accept)) {
      return await reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
    }
    const cluster = await roomManager.census().catch(() => null)
    return { ...roomManager.stats(), serverId: config.serverId, cluster }
  })
}
