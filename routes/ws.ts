import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Connection } from '../src/connection.js'
import { identityFromClaims, type Identity } from '../src/identity.js'
import { DIALECTS, offeredProtocols, pickDialect, type Dialect } from '../src/protocol.js'

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

  /** Offering only subprotocols we do not speak is refused at the upgrade (PROTOCOL §3.1). */
  const checkSubprotocols = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const offered = offeredProtocols(request.headers['sec-websocket-protocol'])
    if (offered.length > 0 && pickDialect(offered) === undefined) {
      await reply.code(400).send({
        statusCode: 400,
        error: 'Bad Request',
        message: `unsupported subprotocol; offer one of ${DIALECTS.join(', ')}`
      })
    }
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
      counters: roomManager.counters
    })
    connections.add(connection)
    socket.once('close', () => connections.delete(connection))
  }

  fastify.route({
    method: 'GET',
    url: '/ws',
    preValidation: checkSubprotocols,
    handler: async (_request, reply) => reply.code(426).header('upgrade', 'websocket')
      .send({ statusCode: 426, error: 'Upgrade Required', message: 'connect with a WebSocket client' }),
    wsHandler
  })

  fastify.route({
    method: 'GET',
    url: '/',
    preValidation: checkSubprotocols,
    handler: async () => ({
      name: 'plaza',
      description: 'Realtime presence for 2D spaces',
      websocket: { paths: ['/ws', '/'], subprotocols: DIALECTS, defaultDialect: config.WS_DIALECT },
      admin: '/admin'
    }),
    wsHandler
  })
}
