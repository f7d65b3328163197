import type { FastifyInstance } from 'fastify'
import analyticsRoutes from './analytics.js'
import chatRoutes from './chat.js'
import healthRoutes from './health.js'
import spaceRoutes from './spaces.js'
import statsRoutes from './stats.js'
import userRoutes from './users.js'
import { sendError } from '../../http/http-errors.js'

/** Operator routes under /admin, all behind the admin token. */
export default async function adminRoutes (fastify: FastifyInstance): Promise<void> {
  // Rate-limited before the token is even looked at, so that guessing it is slow too.
  fastify.addHook('onRequest', fastify.rateLimit())
  fastify.addHook('onRequest', fastify.requireAdmin)
  // Unknown admin paths answer 404 only to an operator, so that routes cannot be listed without a token.
  fastify.setNotFoundHandler(async (_request, reply) => sendError(reply, 404, 'no such route'))
  await fastify.register(spaceRoutes)
  await fastify.register(chatRoutes)
  await fastify.register(healthRoutes)
  await fastify.register(statsRoutes)
  await fastify.register(userRoutes)
  await fastify.register(analyticsRoutes)
}
