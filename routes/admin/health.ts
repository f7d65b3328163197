import type { FastifyInstance } from 'fastify'
import { ADMIN, HealthReply } from '../../http/api-schemas.js'
import { REDIS_PROBE_TIMEOUT_MS, redisLatencyMs } from '../../http/redis-latency.js'

/**
 * GET /admin/health: Redis's round trip (null when it does not answer in time), this server's
 * counts, and the Redis keys the presence store cannot use.
 */
export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  const { config, redis, roomManager, presence } = fastify

  fastify.get('/health', { schema: { ...ADMIN, summary: 'Redis health and this server\'s counts', response: { 200: HealthReply, 503: HealthReply } } }, async (_request, reply) => {
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
      spaces: totalSpaces,
      // Keys another writer took: their spaces are served from memory, not written (see the log).
      faults: presence.faults().keys
    })
  })
}
