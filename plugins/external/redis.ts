import fastifyRedis from '@fastify/redis'
import fp from 'fastify-plugin'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { definePlazaScripts, UNPIPELINED_COMMANDS } from '../../src/scripts/index.js'

/**
 * The shared ioredis client, registered through @fastify/redis as `fastify.redis`.
 *
 * Commands fail fast (no offline queue, a command timeout) so that nothing ever waits on a Redis that
 * is away, and the client keeps reconnecting in the background. Redis is additive: when it cannot be
 * reached at start the server says so loudly and serves from memory.
 */
export default fp(async function redis (fastify) {
  const { config, log } = fastify
  const client = new Redis(config.REDIS_URL, {
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
  // Pub/Sub needs a connection of its own (a subscribed connection runs no other command).
  const subscriber = client.duplicate({ commandTimeout: undefined, enableAutoPipelining: false })
  // Transitions are logged once each, not once per failed reconnect attempt.
  let reachable: boolean | undefined
  client.on('ready', () => {
    if (reachable !== true) log.info({ url: redactUrl(config.REDIS_URL) }, '✅ All Redis connections established')
    reachable = true
  })
  client.on('error', (err: Error) => {
    if (reachable !== false) {
      log.error({ err, url: redactUrl(config.REDIS_URL) },
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

function redactUrl (url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@')
}
