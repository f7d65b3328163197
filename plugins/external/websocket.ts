import fastifyWebsocket from '@fastify/websocket'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { WebSocket } from 'ws'
import { pickDialect } from '../../src/protocol.js'

/**
 * How long a socket ws closed for a bad frame gets to finish the close handshake before it is cut.
 * The client may still be sending the rest of that frame (ws reads and drops it): long enough for it
 * to read the close frame and send the rest, short enough that one that never stops does not hold
 * the socket for ws's default of 30 s.
 */
const BAD_FRAME_CLOSE_MS = 5000

/**
 * The socket's error handler. An error ws raises for a frame it refused (its codes start WS_ERR_:
 * too large, bad opcode, unmasked, ...) comes once ws has stopped parsing (what else arrives is read
 * and dropped) and written the close frame with the matching code, 1009 for a frame over maxPayload.
 * Cutting the socket then, as @fastify/websocket's default handler does, resets the connection while
 * the client may still be sending, and drops the close frame itself while Plaza's write batching
 * (src/cork.ts) still holds it: the client sees 1006. So the handshake is left to finish, within
 * BAD_FRAME_CLOSE_MS. Anything else (a write that failed, a handler that threw) cuts the socket.
 */
function onSocketError (error: Error, socket: WebSocket, request: FastifyRequest): void {
  const code = (error as NodeJS.ErrnoException).code
  if (code?.startsWith('WS_ERR_') === true) {
    request.log.info({ code }, `Closing a WebSocket for a bad frame: ${error.message}`)
    const deadline = setTimeout(() => socket.terminate(), BAD_FRAME_CLOSE_MS).unref()
    socket.once('close', () => clearTimeout(deadline))
    return
  }
  request.log.error(error)
  socket.terminate()
}

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
    errorHandler: onSocketError,
    // The sockets are closed by the drain (plugins/app/drain.ts), not all at once here.
    preClose: async () => {}
  })
}, { name: 'websocket', dependencies: ['config'] })
