import fastifyStatic from '@fastify/static'
import fp from 'fastify-plugin'
import { demoDir } from '../../http/paths.js'

/**
 * @fastify/static over the built demo page (`npm run build:demo`, run by `npm start` and `npm test`):
 * its bundle and stylesheet under /demo/ (and the operator's page's), and `reply.sendFile` for the
 * page itself. The operator's page is not in this root: routes/admin-page.ts sends it, with its
 * Content-Security-Policy, from dist/admin/.
 */
export default fp(async function staticFiles (fastify) {
  await fastify.register(fastifyStatic, { root: demoDir, prefix: '/demo/', index: false, cacheControl: true, maxAge: 0 })
}, { name: 'static' })
