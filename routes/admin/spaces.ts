import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { SPACE_ID_PATTERN, tooManyObstacles } from '../../src/spaces/space.js'
import { RedisUnavailableError, SpacesFullError } from '../../src/spaces/space-registry.js'
import { ADMIN, ErrorReply, SpaceListReply, SpaceReply } from '../../http/api-schemas.js'
import { sendError } from '../../http/http-errors.js'

const Params = Type.Object({ spaceId: Type.String({ pattern: SPACE_ID_PATTERN }) })

/** Space definitions: PROTOCOL §7. */
const spaceRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { spaces, spaceAdmin } = fastify
  const { limits } = spaces
  const Length = Type.Integer({ minimum: 1, maximum: limits.maxCells })
  const SpaceBody = Type.Object({
    width: Length,
    height: Length,
    obstacles: Type.Optional(Type.Array(Type.Object({
      x: Type.Integer({ minimum: 0 }),
      y: Type.Integer({ minimum: 0 }),
      width: Type.Optional(Length),
      height: Type.Optional(Length)
    })))
  })

  fastify.get('/spaces', { schema: { ...ADMIN, summary: 'Every space', response: { 200: SpaceListReply } } }, async () => ({ spaces: await spaces.list() }))

  fastify.get('/spaces/:spaceId', { schema: { ...ADMIN, summary: 'One space', params: Params, response: { 200: SpaceReply, 404: ErrorReply } } }, async (request, reply) => {
    const space = await spaces.resolve(request.params.spaceId)
    if (space === undefined) return await sendError(reply, 404, `no space ${request.params.spaceId}`)
    return space.definition
  })

  fastify.put('/spaces/:spaceId', {
    schema: { ...ADMIN, summary: 'Define or redefine a space', params: Params, body: SpaceBody, response: { 200: SpaceReply, 201: SpaceReply, 400: ErrorReply, 409: ErrorReply } },
    // Room for the most obstacles a space may have, each written out in full (and then some).
    bodyLimit: Math.max(1_048_576, 100 * limits.maxObstacles),
    // Too many obstacles are refused before the schema checks each of them.
    preValidation: async (request, reply) => {
      const obstacles = (request.body as { obstacles?: unknown } | null)?.obstacles
      const refused = Array.isArray(obstacles) ? tooManyObstacles(obstacles.length, limits) : undefined
      if (refused !== undefined) return await sendError(reply, 400, refused)
    }
  }, async (request, reply) => {
    const space = await spaces.build(request.params.spaceId, request.body)
    if (typeof space === 'string') return await sendError(reply, 400, space)
    let created: boolean
    try {
      ({ created } = await spaceAdmin.define(space))
    } catch (err) {
      if (err instanceof SpacesFullError) return await sendError(reply, 409, err.message)
      throw err
    }
    const { id, width, height } = space.definition
    request.log.info({ spaceId: id, created }, `${created ? 'Created' : 'Redefined'} space ${id} (${width}x${height})`)
    return await reply.code(created ? 201 : 200).send(space.definition)
  })

  fastify.delete('/spaces/:spaceId', { schema: { ...ADMIN, summary: 'Delete a space, closing its connections with 4004', params: Params, response: { 204: Type.Null(), 404: ErrorReply, 503: ErrorReply } } }, async (request, reply) => {
    let existed: boolean
    try {
      existed = await spaceAdmin.delete(request.params.spaceId)
    } catch (err) {
      if (err instanceof RedisUnavailableError) return await sendError(reply, 503, err.message)
      throw err
    }
    if (!existed) return await sendError(reply, 404, `no space ${request.params.spaceId}`)
    request.log.info({ spaceId: request.params.spaceId }, `Deleted space ${request.params.spaceId}`)
    return await reply.code(204).send(null)
  })
}

export default spaceRoutes
