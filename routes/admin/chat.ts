import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { SPACE_ID_PATTERN } from '../../src/spaces/space.js'
import { ADMIN, ChatHistoryReply, ErrorReply } from '../../http/api-schemas.js'
import { sendError } from '../../http/http-errors.js'

const Params = Type.Object({ spaceId: Type.String({ pattern: SPACE_ID_PATTERN }) })
const Query = Type.Object({ limit: Type.Optional(Type.Number({ description: 'how many of the last messages (default 50, clamped to 1–1000)' })) })

/** A space's chat history for operators: PROTOCOL §9. */
const chatRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { spaces, chat, spaceAdmin } = fastify

  fastify.get('/spaces/:spaceId/chat', {
    schema: { ...ADMIN, summary: 'The last messages of a space\'s chat, oldest first', params: Params, querystring: Query, response: { 200: ChatHistoryReply, 404: ErrorReply, 503: ErrorReply } }
  }, async (request, reply) => {
    const { spaceId } = request.params
    if (await spaces.lookup(spaceId) === undefined) return await sendError(reply, 404, `no space ${spaceId}`)
    const limit = Math.min(1000, Math.max(1, Math.trunc(request.query.limit ?? 50)))
    try {
      return { messages: await chat.history(spaceId, limit) }
    } catch {
      return await sendError(reply, 503, 'Redis did not answer')
    }
  })

  fastify.delete('/spaces/:spaceId/chat', {
    schema: { ...ADMIN, summary: 'Delete a space\'s chat history for everyone', params: Params, response: { 204: Type.Null(), 404: ErrorReply, 503: ErrorReply } }
  }, async (request, reply) => {
    const { spaceId } = request.params
    if (await spaces.lookup(spaceId) === undefined) return await sendError(reply, 404, `no space ${spaceId}`)
    try {
      await spaceAdmin.clearChat(spaceId)
    } catch {
      return await sendError(reply, 503, 'Redis did not answer')
    }
    request.log.info({ spaceId }, `Deleted the chat history of space ${spaceId}`)
    return await reply.code(204).send(null)
  })
}

export default chatRoutes
