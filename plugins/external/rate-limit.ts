import fastifyRateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'

/**
 * @fastify/rate-limit, applied where a route asks for it (`fastify.rateLimit()`): the operator
 * routes, ADMIN_RATE_LIMIT_PER_MIN requests a minute per address. WebSockets have their own limits.
 */
export default fp(async function rateLimit (fastify) {
  await fastify.register(fastifyRateLimit, { global: false, max: fastify.config.ADMIN_RATE_LIMIT_PER_MIN, timeWindow: '1 minute' })
}, { name: 'rate-limit', dependencies: ['config'] })
