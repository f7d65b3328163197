import fp from 'fastify-plugin'
import { setTimeout as sleep } from 'node:timers/promises'
import { sendError } from '../../http/http-errors.js'
import { CloseCode } from '../../src/protocol.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Shutting down: new requests and upgrades are refused, /healthz aside. */
    readonly draining: boolean
  }
}

/** How long closing sockets get to answer the close handshake, after the last close, before they are cut. */
const CLOSE_GRACE_MS = 1000

/**
 * The drain at shutdown (PROTOCOL §12). From the first moment every request but /healthz is answered
 * 503 (/readyz, so the load balancer takes the server out, and new upgrades), while the listener
 * stays open and connected users stay; after DRAIN_DELAY_MS the sockets close with 1001, spread
 * evenly over DRAIN_SPREAD_MS, and the room manager turns their users into ghosts as they go.
 * Registered before the room manager: its preClose runs first.
 */
export default fp(async function drain (fastify) {
  const { config } = fastify
  let draining = false
  fastify.decorate('draining', { getter: () => draining })
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!draining || request.url === '/healthz') done()
    else void sendError(reply.header('connection', 'close'), 503, 'shutting down')
  })
  fastify.addHook('preClose', async () => {
    draining = true
    if (config.DRAIN_DELAY_MS > 0) await sleep(config.DRAIN_DELAY_MS)
    const server = fastify.websocketServer
    const clients = [...server.clients]
    const closed = clients.map((client) => new Promise((resolve) => client.once('close', resolve)))
    const started = performance.now()
    for (const [i, client] of clients.entries()) {
      const wait = started + (config.DRAIN_SPREAD_MS * i) / clients.length - performance.now()
      if (wait >= 1) await sleep(wait)
      client.close(CloseCode.GoingAway, 'server shutting down')
    }
    await Promise.race([Promise.all(closed), sleep(CLOSE_GRACE_MS, undefined, { ref: false })])
    for (const client of server.clients) client.terminate()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
}, { name: 'drain', dependencies: ['config', 'websocket'] })
