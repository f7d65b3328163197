import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import Fastify, { LogController } from 'fastify'
import fp from 'fastify-plugin'
import adminAuth from '../plugins/app/admin-auth.js'
import analytics from '../plugins/app/analytics.js'
import apiDocs from '../plugins/app/api-docs.js'
import drain from '../plugins/app/drain.js'
import metrics from '../plugins/app/metrics.js'
import roomManager from '../plugins/app/room-manager.js'
import serverLiveness from '../plugins/app/server-liveness.js'
import spaces from '../plugins/app/spaces.js'
import staleSweep from '../plugins/app/stale-sweep.js'
import config from '../plugins/external/config.js'
import jwt from '../plugins/external/jwt.js'
import redis from '../plugins/external/redis.js'
import rateLimit from '../plugins/external/rate-limit.js'
import schedule from '../plugins/external/schedule.js'
import underPressure from '../plugins/external/under-pressure.js'
import staticFiles from '../plugins/external/static.js'
import openApi from '../plugins/external/swagger.js'
import websocket from '../plugins/external/websocket.js'
import adminRoutes from '../routes/admin/index.js'
import adminPageRoutes from '../routes/admin-page.js'
import authRoutes from '../routes/auth.js'
import demoRoutes from '../routes/demo.js'
import metricsRoutes from '../routes/metrics.js'
import probeRoutes from '../routes/probes.js'
import wsRoutes from '../routes/ws.js'
import { loadConfig, type Config } from '../src/config.js'
import { batchedDestination } from '../src/logger.js'
import { sendError } from '../http/http-errors.js'

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
  await fastify.register(staticFiles)
  await fastify.register(underPressure)
  await fastify.register(openApi)

  await fastify.register(drain)
  await fastify.register(spaces)
  await fastify.register(analytics)
  await fastify.register(roomManager)
  await fastify.register(metrics)
  await fastify.register(staleSweep)
  await fastify.register(serverLiveness)
  await fastify.register(adminAuth)
  await fastify.register(apiDocs)

  // Fastify's own 404 logs the raw URL at info; this one says nothing of it (tokens may be there).
  fastify.setNotFoundHandler(async (_request, reply) => sendError(reply, 404, 'no such route'))
  await fastify.register(wsRoutes)
  await fastify.register(metricsRoutes)
  await fastify.register(probeRoutes)
  await fastify.register(adminRoutes, { prefix: '/admin' })
  await fastify.register(demoRoutes)
  await fastify.register(adminPageRoutes)
  // A guest can be anyone: the route exists only where GUEST_AUTH (or development mode) says so.
  if (fastify.config.guestAuth) {
    if (!fastify.config.devMode) fastify.log.warn('GUEST_AUTH is on: POST /auth/guest gives anyone a token for any name')
    await fastify.register(authRoutes)
  }
}

/** Not encapsulated, so that whoever registers Plaza sees its decorators (`config`, `roomManager`…). */
const app = fp(plaza, { name: 'plaza' })
export default app

/**
 * Fastify's own options for Plaza: its logger (into `batches` when lines go out in batches), and
 * never a token in a logged URL.
 */
export function serverOptions (config: Config, batches = logBatches(config)): FastifyServerOptions {
  return {
    logger: {
      ...(batches === undefined ? {} : { stream: batches }),
      level: config.LOG_LEVEL,
      redact: ['req.headers.authorization'],
      serializers: {
        req: (req: { method: string, url: string, ip?: string }) => ({ method: req.method, url: loggableUrl(req.url), remoteAddress: req.ip })
      }
    },
    logController: new UpgradeAwareLogController(),
    // Space ids may be 128 characters long.
    routerOptions: { maxParamLength: 200 },
    // At close every connection is cut, not only idle keep-alive ones: by then the WebSockets were
    // closed (1001), and a socket that never sent a request (a browser's preconnect, a TCP health
    // check) would otherwise hold the shutdown for Node's 60 s headers timeout, past close-with-grace's
    // deadline and before the room manager's last writes.
    forceCloseConnections: true,
    // The drain answers 503 itself, and lets /healthz through (the process is up until it exits).
    return503OnClosing: false,
    // Behind a load balancer, request.ip (per-IP limits) is the client's only if it is trusted.
    trustProxy: config.trustProxy
  }
}

/**
 * Fastify's per-request lines, but for WebSocket upgrades: a storm of 2,000 reconnecting clients
 * would log 2,000 "incoming request" lines, each costing the upgrade more than its routing. A
 * WebSocket is logged by Plaza when it joins and leaves; an upgrade that Plaza or Fastify refuses
 * with an HTTP status (400, 403, 404, 426, 429) gets one line with the request and its status.
 * (A handshake that `ws` itself finds malformed, a bad Sec-WebSocket-Key or version, is answered
 * 400 by `ws` and not logged.)
 */
class UpgradeAwareLogController extends LogController {
  /** Where each upgrade came from, read while its socket is open: a refusal is logged once it closed. */
  readonly #from = new WeakMap<FastifyRequest, string>()

  override incomingRequest (request: FastifyRequest, reply: FastifyReply): void {
    if (isUpgrade(request)) this.#from.set(request, request.ip)
    else super.incomingRequest(request, reply)
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (!isUpgrade(request)) {
      super.requestCompleted(error, request, reply)
      return
    }
    // An accepted upgrade hijacks its reply and never completes: this one was refused, or failed.
    const req = { method: request.method, url: request.url, ip: this.#from.get(request) }
    if (error == null) reply.log.info({ req, res: reply, responseTime: reply.elapsedTime }, 'refused a WebSocket upgrade')
    else reply.log.error({ req, res: reply, err: error, responseTime: reply.elapsedTime }, 'a WebSocket upgrade failed')
  }
}

/**
 * An upgrade as Node decides one (it then goes through the server's 'upgrade' event): an Upgrade
 * header that the Connection header names, not an Upgrade header alone.
 */
function isUpgrade (request: FastifyRequest): boolean {
  const { upgrade, connection } = request.headers
  if (upgrade === undefined || connection === undefined) return false
  // What browsers and ws send, without a regular expression on each upgrade of a storm.
  return connection === 'Upgrade' || connection === 'upgrade' || /(?:^|,)\s*upgrade\s*(?:,|$)/i.test(connection)
}

/**
 * Where log lines go in batches (LOG_FLUSH_MS), or undefined for pino's default destination (a write
 * per line). Not when nothing is logged: a batch destination flushes on a timer, even empty.
 */
function logBatches (config: Config): ReturnType<typeof batchedDestination> | undefined {
  return config.LOG_FLUSH_MS > 0 && config.LOG_LEVEL !== 'silent' ? batchedDestination(1, config.LOG_FLUSH_MS) : undefined
}

/** Builds the app ready to listen; `env` stands in for the process environment (tests). */
export async function buildApp (env?: Record<string, unknown>): Promise<FastifyInstance> {
  const loaded = loadConfig(env)
  const batches = logBatches(loaded)
  const fastify = Fastify(serverOptions(loaded, batches))
  // Shared by the process (its batch outlives an app): what this app logged goes out when it closes.
  if (batches !== undefined) fastify.addHook('onClose', async () => { batches.flush() })
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

/**
 * What of a URL may be logged: the path, with anything shaped like a JWT masked, and no query
 * string at all (clients put tokens there, in every form).
 */
export function loggableUrl (url: string): string {
  const q = url.indexOf('?')
  const path = (q === -1 ? url : url.slice(0, q)).replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '***')
  return q === -1 ? path : `${path}?***`
}
