import type { FastifyInstance } from 'fastify'
import { REDIS_PROBE_TIMEOUT_MS } from '../../plugins/app/metrics.js'
import { redisLatencyMs } from '../../server/health.js'

/** GET /admin/health: Redis's round trip (null when it does not answer in time) and this server's counts. */
export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  const { config, redis, roomManager } = fastify

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
}
