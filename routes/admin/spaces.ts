import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { MAX_OBSTACLES, MAX_SPACE_SIDE, SPACE_ID_PATTERN, defineSpace } from '../../src/spaces/space.js'
import { sendError } from '../../http/http-errors.js'

const Side = Type.Integer({ minimum: 1, maximum: MAX_SPACE_SIDE })
const Params = Type.Object({ spaceId: Type.String({ pattern: SPACE_ID_PATTERN }) })
const SpaceBody = Type.Object({
  width: Side,
  height: Side,
  obstacles: Type.Optional(Type.Array(Type.Object({
    x: Type.Integer({ minimum: 0 }),
    y: Type.Integer({ minimum: 0 }),
    width: Type.Optional(Side),
    height: Type.Optional(Side)
  }), { maxItems: MAX_OBSTACLES }))
})

/** Space definitions: PROTOCOL §7. */
const spaceRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { spaces, spaceAdmin } = fastify

  fastify.get('/spaces', async () => ({ spaces: await spaces.list() }))

  fastify.get('/spaces/:spaceId', { schema: { params: Params } }, async (request, reply) => {
    const space = await spaces.resolve(request.params.spaceId)
    if (space === undefined) return await sendError(reply, 404, `no space ${request.params.spaceId}`)
    return space.definition
  })

  fastify.put('/spaces/:spaceId', { schema: { params: Params, body: SpaceBody } }, async (request, reply) => {
    const definition = defineSpace(request.params.spaceId, request.body)
    if (typeof definition === 'string') return await sendError(reply, 400, definition)
    const { created } = await spaceAdmin.define(definition)
    request.log.info({ spaceId: definition.id, created }, `${created ? 'Created' : 'Redefined'} space ${definition.id} (${definition.width}x${definition.height})`)
    return await reply.code(created ? 201 : 200).send(definition)
  })

  fastify.delete('/spaces/:spaceId', { schema: { params: Params } }, async (request, reply) => {
    const existed = await spaceAdmin.delete(request.params.spaceId)
    if (!existed) return await sendError(reply, 404, `no space ${request.params.spaceId}`)
    request.log.info({ spaceId: request.params.spaceId }, `Deleted space ${request.params.spaceId}`)
    return await reply.code(204).send()
  })
}

export default spaceRoutes
