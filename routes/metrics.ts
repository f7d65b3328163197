import type { FastifyInstance } from 'fastify'

/** The Prometheus scrape target, behind the admin token. */
export default async function metricsRoutes (fastify: FastifyInstance): Promise<void> {
  const { metrics } = fastify
  fastify.get('/metrics', { onRequest: [fastify.rateLimit(), fastify.requireAdmin] }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()))
}
