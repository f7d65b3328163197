import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

/**
 * /docs: the OpenAPI document (/docs/json) and its UI, behind the admin token outside development
 * mode (the document lists every admin route). Off unless API_DOCS, or development mode, says so.
 */
export default fp(async function apiDocs (fastify) {
  const { config } = fastify
  if (!config.apiDocs) return
  await fastify.register(swaggerUi, {
    routePrefix: '/docs',
    ...(config.devMode ? {} : { uiHooks: { onRequest: fastify.requireAdmin } })
  })
}, { name: 'api-docs', dependencies: ['config', 'admin-auth', 'swagger'] })
