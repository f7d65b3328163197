import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'

/**
 * @fastify/under-pressure as a signal only (`fastify.isUnderPressure()`, read by /readyz): an
 * overloaded server stops being offered new users, and refuses nobody it already has.
 */
export default fp(async function pressure (fastify) {
  const { config } = fastify
  await fastify.register(underPressure, {
    maxEventLoopDelay: config.READY_MAX_EVENT_LOOP_DELAY_MS,
    // Requests go on under pressure: the load balancer's readiness check is what moves new users.
    pressureHandler: () => undefined
  })
}, { name: 'under-pressure', dependencies: ['config'] })
