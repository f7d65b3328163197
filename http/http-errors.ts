import { STATUS_CODES } from 'node:http'
import type { FastifyReply } from 'fastify'

/**
 * Answers with Fastify's error shape, `{statusCode, error, message}`, without going through its
 * error handler: these are answers, not faults, and are not logged as errors (a flood of refused
 * upgrades would otherwise log a line each).
 */
export function sendError (reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message })
}
