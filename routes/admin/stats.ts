import type { FastifyInstance } from 'fastify'
import { ADMIN, StatsReply } from '../../http/api-schemas.js'
import { prefersExposition } from '../../http/negotiate.js'

/** GET /admin/stats: who is where, as JSON, or as the Prometheus exposition for a scraper. */
export default async function statsRoutes (fastify: FastifyInstance): Promise<void> {
  const { config, roomManager, presence, metrics } = fastify

  fastify.get('/stats', { schema: { ...ADMIN, summary: 'Who is where, on this server and across servers', response: { 200: StatsReply } } }, async (request, reply) => {
    if (prefersExposition(request.headers.accept)) {
      return await reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
    }
    const cluster = await presence.census().catch(() => null)
    return { ...roomManager.stats(), serverId: config.serverId, cluster }
  })
}
