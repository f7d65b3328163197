import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { adminPageDir } from '../http/paths.js'

/**
 * The operator's page at /admin (sources in public/admin.*, built with the demo: its script and
 * stylesheet into dist/public/, served under /demo/; the page into dist/admin/, served here only).
 * The page holds no data, so it is served without the admin token: each of its requests carries it.
 * Registered outside the /admin routes, whose hooks ask for the token.
 */
export default async function adminPageRoutes (fastify: FastifyInstance): Promise<void> {
  const page = async (_request: unknown, reply: FastifyReply): Promise<FastifyReply> => {
    if (!existsSync(join(adminPageDir, 'admin.html'))) {
      return await reply.code(503).type('text/plain; charset=utf-8').send('The operator\'s page is not built: run `npm run build:demo` (npm start does it).\n')
    }
    return await reply
      .header('cache-control', 'no-cache')
      // The token sits in this page's sessionStorage: no script but its own, and no framing.
      .header('content-security-policy', 'default-src \'self\'; img-src \'self\' data:; frame-ancestors \'none\'; base-uri \'none\'; form-action \'none\'')
      .header('referrer-policy', 'no-referrer')
      .sendFile('admin.html', adminPageDir, { cacheControl: false })
  }
  // A page, not part of the API: left out of the OpenAPI document.
  fastify.get('/admin', { schema: { hide: true } }, page)
  fastify.get('/admin/', { schema: { hide: true } }, page)
}
