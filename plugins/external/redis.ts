import fastifyRedis from '@fastify/redis'
import fp from 'fastify-plugin'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis, type RedisOptions } from 'ioredis'
import type { Config } from '../../src/config.js'
import { definePlazaScripts, UNPIPELINED_COMMANDS } from '../../src/scripts/index.js'

/**
 * The shared ioredis client, registered through @fastify/redis as `fastify.redis`.
 *
 * Commands fail fast (no offline queue, a command timeout) so that nothing ever waits on a Redis that
 * is away, and the client keeps reconnecting in the background. Redis is additive: when it cannot be
 * reached at start the server says so loudly and serves from memory.
 *
 * With REDIS_SENTINELS the client (and its Pub/Sub duplicate) asks the Sentinels for the primary at
 * each connection, so a failover is followed by reconnecting: to the promoted replica once the
 * Sentinels name it.
 */
export default fp(async function redis (fastify) {
  const { config, log } = fastify
  const client = createClient(config, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: config.REDIS_CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    // Commands issued in the same turn (a join storm's reads, claims and writes) share one write.
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: UNPIPELINED_COMMANDS
  })
  // Plaza's Lua scripts, once for every part that uses this client.
  definePlazaScripts(client)
  // Pub/Sub needs a connection of its own (a subscribed connection runs no other command). A
  // duplicate keeps the options, Sentinels included: it finds and follows the primary on its own.
  const subscriber = client.duplicate({ commandTimeout: undefined, enableAutoPipelining: false })
  const where = config.redis.kind === 'sentinel'
    ? { sentinels: config.redis.sentinels.map(({ host, port }) => `${host}:${port}`), name: config.redis.name }
    : { url: redactUrl(config.REDIS_URL) }
  // Transitions are logged once each, not once per failed reconnect attempt.
  let reachable: boolean | undefined
  let primary: string | undefined
  client.on('ready', () => {
    const now = addressOf(client)
    if (reachable !== true) log.info({ ...where, primary: now }, `✅ All Redis connections established (primary ${now})`)
    if (primary !== undefined && now !== primary) {
      log.warn({ ...where, primary: now, previous: primary }, `🔀 Followed a Redis failover: the primary is now ${now} (was ${primary}); writing this server's users back`)
    }
    primary = now
    reachable = true
  })
  client.on('error', (err: Error) => {
    if (reachable !== false) {
      log.error({ err, ...where },
        `❌ Redis Client Error: ${err.message}. Serving from memory; presence is written back when Redis returns`)
    }
    reachable = false
  })
  subscriber.on('error', () => { /* the same outage, reported by the main client */ })

  const quiet = (): void => { /* reported by the 'error' listener; reconnection goes on */ }
  // Bounded: a Redis that accepts connections but never answers must not keep the server from starting.
  const connecting = Promise.all([client.connect().catch(quiet), subscriber.connect().catch(quiet)])
  await Promise.race([connecting, sleep(config.REDIS_CONNECT_TIMEOUT_MS, undefined, { ref: false })])

  for (const [namespace, redis] of [[undefined, client], ['subscriber', subscriber]] as const) {
    if (redis.status === 'ready') {
      await fastify.register(fastifyRedis, { client: redis, closeClient: false, ...(namespace ? { namespace } : {}) })
    } else if (namespace === undefined) {
      // @fastify/redis waits for 'ready' before letting the app boot; without Redis we boot anyway.
      fastify.decorate('redis', client as never)
    } else {
      Object.assign(client, { [namespace]: redis })
    }
  }
  fastify.addHook('onClose', async () => {
    // A subscriber has nothing to flush, and its QUIT would wait on a hung Redis with no timeout.
    subscriber.disconnect()
    if (client.status === 'ready') await client.quit().catch(() => client.disconnect())
    else client.disconnect()
  })
}, { name: 'redis', dependencies: ['config'] })

/** A client of REDIS_URL's server, or of the primary the Sentinels name. */
function createClient (config: Config, options: RedisOptions): Redis {
  const target = config.redis
  if (target.kind === 'server') return new Redis(config.REDIS_URL, options)
  return new Redis({
    ...options,
    sentinels: target.sentinels,
    name: target.name,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    // A Sentinel that hangs must not hold the search for the primary.
    sentinelCommandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    // Told by the Sentinels of a promotion (+switch-master), reconnect at once: a primary that was
    // cut off, not killed, would otherwise keep this connection.
    failoverDetector: true,
    // A demoted primary answers writes with READONLY: find the primary again.
    reconnectOnError: (err) => err.message.startsWith('READONLY')
  })
}

/** The address this client is connected to, `host:port`. */
function addressOf (client: Redis): string {
  const { remoteAddress, remotePort } = client.stream
  return remoteAddress?.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`
}

function redactUrl (url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@')
}
