import type { FastifyInstance } from 'fastify'
import monitoringRoutes from './monitoring.js'
import spaceRoutes from './spaces.js'

/** Operator routes under /admin, all behind the admin token. */
export default async function adminRoutes (fastify: FastifyInstance): Promise<void> {
  // Rate-limited before the token is even looked at, so that guessing it is slow too.
  fastify.addHook('onRequest', fastify.rateLimit())
  fastify.addHook('onRequest', fastify.requireAdmin)
  // Unknown admin paths answer 404 only to an operator, so that routes cannot be listed without a token.
  fastify.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no such route' }))
  await fastify.register(spaceRoutes)
  await fastify.register(monitoringRoutes)
}
