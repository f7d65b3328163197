import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Connection } from '../src/connection.js'
import { identityFromClaims, type Identity } from '../src/identity.js'
import { DIALECTS, offeredProtocols, pickDialect, type Dialect } from '../src/protocol.js'
import { RefCount } from '../src/util/ref-count.js'
import { sendError } from '../http/http-errors.js'

/** Tokens longer than this are refused unread: no legitimate JWT comes close. */
const MAX_TOKEN_LENGTH = 8192

/**
 * The WebSocket edge: `/ws`, and `/` for clients that connect to the server root (the 2d-metaverse
 * family), where a plain GET describes the service. Each socket becomes a Connection.
 */
export default async function wsRoutes (fastify: FastifyInstance): Promise<void> {
  const { config, roomManager } = fastify
  const connections = new Set<Connection>()

  const authenticate = (token: unknown): Identity | undefined => {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return undefined
    try {
      return identityFromClaims(fastify.jwt.verify(token))
    } catch {
      return undefined
    }
  }

  // Liveness: a socket that has not answered the previous ping by the next one is dropped.
  const liveness = setInterval(() => {
    for (const connection of connections) connection.checkAlive()
  }, config.PING_INTERVAL_MS).unref()
  fastify.addHook('onClose', async () => { clearInterval(liveness) })

  const perIp = new RefCount<string>()
  const allowedOrigins = new Set(config.allowedOrigins)

  /**
   * What is refused before the upgrade: subprotocols we do not speak (400, PROTOCOL §3.1), a browser
   * page from an origin not allowed (403: cross-site WebSocket hijacking), one address holding too
   * many sockets (429). A callback hook, not an async one: each upgrade is spared a promise and a
   * microtask turn.
   */
  const checkUpgrade = (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const offered = offeredProtocols(request.headers['sec-websocket-protocol'])
    if (offered.length > 0 && pickDialect(offered) === undefined) {
      sendError(reply, 400, `unsupported subprotocol; offer one of ${DIALECTS.join(', ')}`)
      return
    }
    const origin = request.headers.origin
    if (allowedOrigins.size > 0 && origin !== undefined && !allowedOrigins.has(origin)) {
      request.log.warn({ origin }, 'Refused a WebSocket from an origin not in ALLOWED_ORIGINS')
      sendError(reply, 403, 'origin not allowed')
      return
    }
    if (request.headers.upgrade !== undefined && config.MAX_CONNECTIONS_PER_IP > 0 && perIp.count(request.ip) >= config.MAX_CONNECTIONS_PER_IP) {
      sendError(reply, 429, 'too many connections from this address')
      return
    }
    done()
  }

  const wsHandler = (socket: import('ws').WebSocket, request: FastifyRequest): void => {
    const dialect = (pickDialect([socket.protocol]) ?? config.WS_DIALECT) as Dialect
    const connection = new Connection({
      socket,
      dialect,
      rooms: roomManager,
      authenticate,
      log: request.log,
      maxMessagesPerS: config.MAX_MESSAGES_PER_S,
      joinTimeoutMs: config.JOIN_TIMEOUT_MS,
      maxBufferedBytes: config.MAX_BUFFERED_BYTES,
      maxMessageBytes: config.MAX_MESSAGE_BYTES,
      maxChatChars: config.MAX_CHAT_CHARS,
      maxChatsPer10s: config.MAX_CHATS_PER_10S,
      counters: roomManager.counters
    })
    connections.add(connection)
    // Read once: request.ip is a getter (proxy-addr with TRUST_PROXY), and the close needs the same key.
    const ip = request.ip
    perIp.add(ip)
    socket.once('close', () => {
      connections.delete(connection)
      perIp.remove(ip)
    })
  }

  fastify.route({
    method: 'GET',
    url: '/ws',
    preValidation: checkUpgrade,
    handler: async (_request, reply) => sendError(reply.header('upgrade', 'websocket'), 426, 'connect with a WebSocket client'),
    wsHandler
  })

  fastify.route({
    method: 'GET',
    url: '/',
    preValidation: checkUpgrade,
    handler: async () => ({
      name: 'plaza',
      description: 'Realtime presence for 2D spaces',
      websocket: { paths: ['/ws', '/'], subprotocols: DIALECTS, defaultDialect: config.WS_DIALECT },
      admin: '/admin'
    }),
    wsHandler
  })
}
