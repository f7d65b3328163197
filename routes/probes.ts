import type { FastifyInstance } from 'fastify'

/** A liveness probe for load balancers and orchestrators: open, and says nothing about the deployment. */
export default async function probeRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.get('/healthz', async () => ({ status: 'ok' }))
}
