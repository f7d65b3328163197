import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { redisKeys } from '../../src/keys.js'
import { decodeEntry } from '../../src/presence/entry.js'
import { SPACE_ID_PATTERN } from '../../src/spaces/space.js'
import { ADMIN, AnalyticsReply, ErrorReply } from '../../http/api-schemas.js'
import { sendError } from '../../http/http-errors.js'

const Params = Type.Object({ spaceId: Type.String({ pattern: SPACE_ID_PATTERN }) })
const Query = Type.Object({ days: Type.Integer({ minimum: 1, maximum: 90, default: 7, description: 'UTC days, today included' }) })

/** A space's figures by day: PROTOCOL §11. */
const analyticsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { analytics, config, redis, spaces } = fastify
  const keys = redisKeys(config.KEY_PREFIX)

  fastify.get('/spaces/:spaceId/analytics', {
    schema: {
      ...ADMIN,
      summary: 'A space\'s visits, unique users, peak, sessions and chat by UTC day, newest first',
      params: Params,
      querystring: Query,
      response: { 200: AnalyticsReply, 400: ErrorReply, 404: ErrorReply, 503: ErrorReply }
    }
  }, async (request, reply) => {
    const { spaceId } = request.params
    if (await spaces.lookup(spaceId) === undefined) return await sendError(reply, 404, `no space ${spaceId}`)
    // This server's own counts of the moment are in Redis before they are read.
    await analytics.flush()
    try {
      const [entries, days] = await Promise.all([redis.hgetall(keys.spaceUsers(spaceId)), analytics.read(spaceId, request.query.days)])
      const now = { users: 0, ghosts: 0 }
      for (const [userId, value] of Object.entries(entries)) {
        const entry = decodeEntry(userId, value)
        if (entry === undefined) continue
        if (entry.connected) now.users++
        else now.ghosts++
      }
      return { spaceId, now, days }
    } catch (err) {
      request.log.warn({ err, spaceId }, `Could not read the analytics of space ${spaceId} from Redis`)
      return await sendError(reply, 503, 'Redis did not answer')
    }
  })
}

export default analyticsRoutes
