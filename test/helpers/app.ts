import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { buildApp } from '../../server/app.js'
import type { SpaceDefinition } from '../../src/spaces/space.js'

export const JWT_SECRET = 'plaza-test-secret'
export const ADMIN_TOKEN = 'plaza-test-admin-token'
export const REDIS_URL = 'redis://127.0.0.1:6379'

export interface TestApp {
  app: FastifyInstance
  /** This test's KEY_PREFIX: every key it makes starts with it. */
  prefix: string
  /** ws://127.0.0.1:PORT */
  wsBase: string
  /** http://127.0.0.1:PORT */
  httpBase: string
  /** A Redis client of the test's own, for looking at what Plaza wrote. */
  redis: Redis
  token: (claims: Record<string, unknown>) => string
  /** `space:{spaceId}:users` as parsed JSON entries. */
  usersInRedis: (spaceId: string) => Promise<Record<string, Record<string, unknown>>>
  defineSpace: (definition: Partial<SpaceDefinition> & { id: string }) => Promise<void>
}

export type Env = Record<string, string | number>

/** The settings every test starts from: quiet, fast to shut down, isolated in Redis by a prefix. */
export function testEnv (prefix: string, env: Env = {}): Env {
  return { KEY_PREFIX: prefix, JWT_SECRET, ADMIN_TOKEN, REDIS_URL, LOG_LEVEL: 'silent', ...env }
}

export interface Isolation {
  prefix: string
  redis: Redis
  /** Run at teardown before the keys are deleted: apps close here, so that their last writes go too. */
  closers: Array<() => Promise<unknown>>
}

/** A fresh key prefix, and a teardown that closes the apps using it, then deletes every key under it. */
export function isolate (t: Test): Isolation {
  const prefix = `test:${randomUUID()}:`
  const redis = new Redis(REDIS_URL)
  const closers: Isolation['closers'] = []
  t.teardown(async () => {
    for (const close of closers) await close()
    await deleteKeys(redis, prefix)
    await redis.quit()
  })
  return { prefix, redis, closers }
}

export async function deleteKeys (redis: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    if (keys.length > 0) await redis.del(...keys)
    cursor = next
  } while (cursor !== '0')
}

/** Starts Plaza on a free port against the real Redis; it is closed when the test ends. */
export async function startApp (t: Test, env: Env = {}, shared?: Isolation): Promise<TestApp> {
  const { prefix, redis, closers } = shared ?? isolate(t)
  const app = await buildApp(testEnv(prefix, env))
  closers.push(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    app,
    prefix,
    redis,
    wsBase: `ws://127.0.0.1:${port}`,
    httpBase: `http://127.0.0.1:${port}`,
    token: (claims) => app.jwt.sign(claims),
    usersInRedis: async (spaceId) => {
      const hash = await redis.hgetall(`${prefix}space:${spaceId}:users`)
      return Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, JSON.parse(v) as Record<string, unknown>]))
    },
    defineSpace: async ({ id, width = 10, height = 10, obstacles = [] }) => {
      await app.spaces.put({ id, width, height, obstacles })
    }
  }
}

/**
 * Reads `read()` until `done(value)` holds or the time is up, and returns the last value read, for
 * the test to assert on (for state that settles asynchronously, like a Redis flush).
 */
export async function settle<T> (read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
