import type { FastifyInstance } from 'fastify'
import monitoringRoutes from './monitoring.js'
import spaceRoutes from './spaces.js'

/** Operator routes under /admin, all behind the admin token. */
export default async function adminRoutes (fastify: FastifyInstance): Promise<void> {
  // Rate-limited before the token is even looked at, so that guessing it is slow too.
  fastify.addHook('onRequest', fastify.rateLimit())
  fastify.addHook('onRequest', fastify.requireAdmin)
  await fastify.register(spaceRoutes)
  await fastify.register(monitoringRoutes)
}
