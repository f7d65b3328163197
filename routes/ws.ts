import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Connection } from '../src/connection.js'
import { identityFromClaims, type Identity } from '../src/identity.js'
import { DIALECTS, offeredProtocols, pickDialect, type Dialect } from '../src/protocol.js'

/** Tokens longer than this are refused unread: no legitimate JWT comes close. */
const MAX_TOKEN_LENGTH = 8192

/** An upgrade refused before it happens, with an HTTP status and Fastify's error shape. */
function refuse (reply: FastifyReply, statusCode: number, error: string, message: string): FastifyReply {
  return reply.code(statusCode).send({ statusCode, error, message })
}

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

  const perIp = new Map<string, number>()
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
      refuse(reply, 400, 'Bad Request', `unsupported subprotocol; offer one of ${DIALECTS.join(', ')}`)
      return
    }
    const origin = request.headers.origin
    if (allowedOrigins.size > 0 && origin !== undefined && !allowedOrigins.has(origin)) {
      request.log.warn({ origin }, 'Refused a WebSocket from an origin not in ALLOWED_ORIGINS')
      refuse(reply, 403, 'Forbidden', 'origin not allowed')
      return
    }
    if (request.headers.upgrade !== undefined && (perIp.get(request.ip) ?? 0) >= config.MAX_CONNECTIONS_PER_IP) {
      refuse(reply, 429, 'Too Many Requests', 'too many connections from this address')
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
      counters: roomManager.counters
    })
    connections.add(connection)
    // Read once: request.ip is a getter (proxy-addr with TRUST_PROXY), and the close needs the same key.
    const ip = request.ip
    perIp.set(ip, (perIp.get(ip) ?? 0) + 1)
    socket.once('close', () => {
      connections.delete(connection)
      const left = (perIp.get(ip) ?? 1) - 1
      if (left === 0) perIp.delete(ip)
      else perIp.set(ip, left)
    })
  }

  fastify.route({
    method: 'GET',
    url: '/ws',
    preValidation: checkUpgrade,
    handler: async (_request, reply) => reply.code(426).header('upgrade', 'websocket')
      .send({ statusCode: 426, error: 'Upgrade Required', message: 'connect with a WebSocket client' }),
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
