import type { FastifyInstance } from 'fastify'

/** The Prometheus scrape target (admin token), and a liveness probe for load balancers (open, says nothing). */
export default async function monitoringRoutes (fastify: FastifyInstance): Promise<void> {
  const { metrics } = fastify

  fastify.get('/metrics', { onRequest: [fastify.rateLimit(), fastify.requireAdmin] }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()))

  fastify.get('/healthz', async () => ({ status: 'ok' }))
}
