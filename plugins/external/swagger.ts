import swagger from '@fastify/swagger'
import fp from 'fastify-plugin'

/**
 * The OpenAPI document of Plaza's HTTP API, made from the routes' schemas (@fastify/swagger). Only
 * where API_DOCS (or development mode) says so; registered before the routes, which it reads as
 * they are added. The UI is served by the api-docs plugin, behind the admin token.
 */
export default fp(async function openApi (fastify) {
  if (!fastify.config.apiDocs) return
  await fastify.register(swagger, {
    openapi: {
      info: {
        title: 'Plaza',
        description: 'Realtime presence for 2D spaces: the admin API, probes and metrics. The WebSocket protocol is docs/protocol.md.',
        version: '1'
      },
      components: { securitySchemes: { admin: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' } } }
    }
  })
}, { name: 'swagger', dependencies: ['config'] })
