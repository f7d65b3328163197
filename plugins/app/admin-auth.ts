import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { sendError } from '../../http/http-errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler for operator routes: `Authorization: Bearer $ADMIN_TOKEN`, or 401. */
    requireAdmin: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/** Admin authentication, compared in constant time; a refusal says nothing about why. */
export default fp(async function adminAuth (fastify) {
  const expected = digest(fastify.config.adminToken)
  fastify.decorate('requireAdmin', async function requireAdmin (request: FastifyRequest, reply: FastifyReply) {
    const match = /^bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')
    const token = match?.[1] ?? ''
    // Hashing first makes the comparison constant-time whatever the length of what was sent.
    if (!timingSafeEqual(digest(token), expected) || token === '') {
      await sendError(reply.header('www-authenticate', 'Bearer'), 401, 'Unauthorized')
    }
  })
}, { name: 'admin-auth', dependencies: ['config'] })
