import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import adminAuth from '../plugins/app/admin-auth.js'
import cleanup from '../plugins/app/cleanup.js'
import cluster from '../plugins/app/cluster.js'
import metrics from '../plugins/app/metrics.js'
import roomManager from '../plugins/app/room-manager.js'
import spaces from '../plugins/app/spaces.js'
import config from '../plugins/external/config.js'
import jwt from '../plugins/external/jwt.js'
import redis from '../plugins/external/redis.js'
import rateLimit from '../plugins/external/rate-limit.js'
import schedule from '../plugins/external/schedule.js'
import websocket from '../plugins/external/websocket.js'
import adminRoutes from '../routes/admin/index.js'
import monitoringRoutes from '../routes/monitoring.js'
import wsRoutes from '../routes/ws.js'
import { loadConfig, type Config } from './config.js'

export interface AppOptions {
  /** The loaded configuration; read from the environment when absent. */
  config?: Config
}

/** Plaza as one Fastify plugin: library wrappers first, then Plaza's own parts, routes last. */
async function plaza (fastify: FastifyInstance, options: AppOptions): Promise<void> {
  await fastify.register(config, { config: options.config })
  await fastify.register(redis)
  await fastify.register(jwt)
  await fastify.register(websocket)
  await fastify.register(schedule)
  await fastify.register(rateLimit)

  await fastify.register(spaces)
  await fastify.register(roomManager)
  await fastify.register(metrics)
  await fastify.register(cleanup)
  await fastify.register(cluster)
  await fastify.register(adminAuth)

  await fastify.register(wsRoutes)
  await fastify.register(monitoringRoutes)
  await fastify.register(adminRoutes, { prefix: '/admin' })
}

/** Not encapsulated, so that whoever registers Plaza sees its decorators (`config`, `roomManager`…). */
const app = fp(plaza, { name: 'plaza' })
export default app

/** Fastify's own options for Plaza: its logger, and never a token in a logged URL. */
export function serverOptions (config: Config): FastifyServerOptions {
  return {
    logger: {
      level: config.LOG_LEVEL,
      redact: ['req.headers.authorization'],
      serializers: {
        req: (req: { method: string, url: string, ip?: string }) => ({ method: req.method, url: redactQuery(req.url), remoteAddress: req.ip })
      }
    },
    // Space ids may be 128 characters long.
    routerOptions: { maxParamLength: 200 },
    // Behind a load balancer, request.ip (per-IP limits) is the client's only if it is trusted.
    trustProxy: config.TRUST_PROXY
  }
}

/** Builds the app ready to listen; `env` stands in for the process environment (tests). */
export async function buildApp (env?: Record<string, unknown>): Promise<FastifyInstance> {
  const loaded = loadConfig(env)
  const fastify = Fastify(serverOptions(loaded))
  try {
    await fastify.register(app, { config: loaded })
    await fastify.ready()
  } catch (err) {
    // A failed start (a bad SPACES_FILE, say) must not leave the Redis connection open.
    await fastify.close().catch(() => {})
    throw err
  }
  return fastify
}

/** Query-string values are dropped from logged URLs: clients put tokens there. */
export function redactQuery (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  return url.slice(0, q + 1) + url.slice(q + 1).split('&').map((pair) => pair.split('=')[0] + '=***').join('&')
}
