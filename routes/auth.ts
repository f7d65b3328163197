import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { sendError } from '../http/http-errors.js'

const GuestBody = Type.Object({
  // A display name: letters, digits, spaces and a few signs; no control characters.
  username: Type.String({ minLength: 1, maxLength: 32, pattern: '^[\\p{L}\\p{N}\\p{M} ._\'-]+$' })
})

/** A guest's userId follows from the name, so that signing in again as the same name resumes the avatar. */
export const guestUserId = (username: string): string => `guest:${username.toLowerCase()}`

/**
 * `POST /auth/guest {username}` → `{token, userId, username, expiresIn}`: a token for anyone who asks,
 * for the demo page. Registered only when GUEST_AUTH is on (by default only in development mode):
 * a guest can be anyone, so this is no authentication at all.
 */
const authRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config } = fastify
  fastify.post('/auth/guest', {
    schema: { body: GuestBody },
    onRequest: fastify.rateLimit({ max: 30, timeWindow: '1 minute' })
  }, async (request, reply) => {
    const username = request.body.username.trim().replace(/\s+/g, ' ')
    if (username === '') return await sendError(reply, 400, 'username must not be blank')
    const userId = guestUserId(username)
    // With an audience or issuer configured, tokens without them are refused: guests' carry them.
    const token = fastify.jwt.sign({
      userId,
      username,
      ...(config.JWT_AUDIENCE !== undefined ? { aud: config.JWT_AUDIENCE } : {}),
      ...(config.JWT_ISSUER !== undefined ? { iss: config.JWT_ISSUER } : {})
    }, { expiresIn: config.GUEST_TOKEN_TTL_S })
    request.log.info({ userId }, `Guest token for ${username}`)
    return { token, userId, username, expiresIn: config.GUEST_TOKEN_TTL_S }
  })
}

export default authRoutes
