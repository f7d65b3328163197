import type { FastifyInstance } from 'fastify'
import { sendError } from '../http/http-errors.js'

/**
 * Probes for load balancers and orchestrators, open, saying nothing about the deployment: /healthz,
 * the process is up; /readyz, it takes new connections (503 while its event loop is overloaded; at
 * shutdown the drain answers 503, plugins/app/drain.ts).
 */
export default async function probeRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.get('/healthz', async () => ({ status: 'ok' }))
  fastify.get('/readyz', async (_request, reply) => {
    if (fastify.isUnderPressure()) return await sendError(reply, 503, 'overloaded')
    return { status: 'ready' }
  })
}
