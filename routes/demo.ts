import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { demoDir } from '../http/paths.js'
import { SPACE_ID_PATTERN } from '../src/spaces/space.js'

const Params = Type.Object({ spaceId: Type.String({ pattern: SPACE_ID_PATTERN }) })

/** The demo page: `/space/:spaceId` shows a space in the browser (sources in public/, built into dist/public/). */
const demoRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/space/:spaceId', { schema: { params: Params } }, async (_request, reply) => {
    // Plain text: a person opened this page in a browser, and reads the answer there.
    if (!existsSync(join(demoDir, 'index.html'))) {
      return await reply.code(503).type('text/plain; charset=utf-8').send('The demo page is not built: run `npm run build:demo` (npm start does it).\n')
    }
    return await reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false })
  })
}

export default demoRoutes
