import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { redisKeys } from '../../src/keys.js'
import { readSpaceUsers } from '../../src/presence/space-users.js'
import { SPACE_ID_PATTERN } from '../../src/spaces/space.js'
import { ADMIN, ErrorReply, SpaceUsersReply } from '../../http/api-schemas.js'
import { sendError } from '../../http/http-errors.js'

const Params = Type.Object({ spaceId: Type.String({ pattern: SPACE_ID_PATTERN }) })

/** GET /admin/spaces/:spaceId/users: who is in a space now, across servers, ghosts included. */
const userRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config, redis, spaces } = fastify
  const keys = redisKeys(config.KEY_PREFIX)

  fastify.get('/spaces/:spaceId/users', {
    schema: { ...ADMIN, summary: 'Everyone in a space: connected users and ghosts, across servers', params: Params, response: { 200: SpaceUsersReply, 404: ErrorReply, 503: ErrorReply } }
  }, async (request, reply) => {
    const { spaceId } = request.params
    if (await spaces.lookup(spaceId) === undefined) return await sendError(reply, 404, `no space ${spaceId}`)
    try {
      return { spaceId, users: await readSpaceUsers(redis, keys, spaceId, config.IDLE_AFTER_MS) }
    } catch {
      return await sendError(reply, 503, 'Redis did not answer')
    }
  })
}

export default userRoutes
