import fastifySchedule from '@fastify/schedule'
import fp from 'fastify-plugin'

/** @fastify/schedule (toad-scheduler) as `fastify.scheduler`; its jobs stop when the app closes. */
export default fp(async function schedule (fastify) {
  await fastify.register(fastifySchedule)
}, { name: 'schedule' })
