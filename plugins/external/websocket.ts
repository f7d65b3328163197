import fastifyWebsocket from '@fastify/websocket'
import fp from 'fastify-plugin'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { CloseCode, pickDialect } from '../../src/protocol.js'

/** How long closing sockets get to answer the close handshake at shutdown, after the last close, before they are cut. */
const CLOSE_GRACE_MS = 1000

/**
 * @fastify/websocket with Plaza's limits: frames over MAX_MESSAGE_BYTES are refused by ws before
 * they are buffered (close 1009), no compression, and the subprotocol picks the dialect.
 */
export default fp(async function websocket (fastify) {
  const { config } = fastify
  await fastify.register(fastifyWebsocket, {
    options: {
      maxPayload: config.MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      // Checked by the connection instead, to answer as PROTOCOL §3.1 says rather than close 1007.
      skipUTF8Validation: true,
      handleProtocols: (protocols) => pickDialect(protocols) ?? false
    },
    // The drain (PROTOCOL §12): Fastify answers 503 to every request from here, /readyz and new
    // upgrades included, while the listener stays open; after DRAIN_DELAY_MS the sockets close with
    // 1001, spread over DRAIN_SPREAD_MS, and the room manager turns their users into ghosts.
    preClose: async () => {
      const server = fastify.websocketServer
      // Fastify's 503 while closing skips the hook that ends a refused upgrade's socket, and an
      // HTTP server keeps a half-closed socket open: the listener would never close.
      fastify.server.on('upgrade', endRefusedUpgrade)
      if (config.DRAIN_DELAY_MS > 0) await sleep(config.DRAIN_DELAY_MS)
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
    }
  })
}, { name: 'websocket', dependencies: ['config'] })

/** Ends a socket whose upgrade was answered 503 (its answer is written by then: Fastify's listener runs first). */
function endRefusedUpgrade (_request: IncomingMessage, socket: Duplex): void {
  if (!socket.writableEnded) socket.end()
}
