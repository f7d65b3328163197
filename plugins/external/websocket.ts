import fastifyWebsocket from '@fastify/websocket'
import fp from 'fastify-plugin'
import { setTimeout as sleep } from 'node:timers/promises'
import { CloseCode, pickDialect } from '../../src/protocol.js'

/** How long closing sockets get to answer the close handshake at shutdown before they are cut. */
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
    // Sockets close with 1001 (going away); the room manager has turned their users into ghosts.
    preClose: async () => {
      const server = fastify.websocketServer
      const closed = [...server.clients].map((client) => new Promise((resolve) => client.once('close', resolve)))
      for (const client of server.clients) client.close(CloseCode.GoingAway, 'server shutting down')
      await Promise.race([Promise.all(closed), sleep(CLOSE_GRACE_MS, undefined, { ref: false })])
      for (const client of server.clients) client.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
}, { name: 'websocket', dependencies: ['config'] })
