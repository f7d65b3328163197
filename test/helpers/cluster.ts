import { createSigner } from 'fast-jwt'
import type { Test } from 'tap'
import { ADMIN_TOKEN, JWT_SECRET, isolate, testEnv, type Env, type Isolation } from './app.js'
import { TestClient } from './client.js'
import { startServer, type ServerProcess } from './process.js'

/**
 * Several Plaza processes on one Redis, for the cluster-*.test.ts files: every server is a
 * real process started from server/main.ts, all under one KEY_PREFIX of the test's own.
 */

const sign = createSigner({ key: JWT_SECRET })
/** A token for `userId`; the display name is the id in capitals unless given. */
export const token = (userId: string, username = userId.toUpperCase()): string => sign({ userId, username })
export const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }

export interface ClusterServer extends ServerProcess {
  /** Its SERVER_ID: its member in `plaza:servers`. */
  id: string
}
type Servers<N extends 1 | 2 | 3> = N extends 1 ? [ClusterServer] : N extends 2 ? [ClusterServer, ClusterServer] : [ClusterServer, ClusterServer, ClusterServer]

/**
 * Fast heartbeats, so that a dead server is noticed within a second; positions flushed every 50 ms.
 * A file that kills no server should pass slower ones (e.g. the defaults, 2000/6000): on two busy
 * cores a live server could miss a 1 s deadline and be taken for dead.
 */
export const FAST_LIVENESS = { SERVER_HEARTBEAT_MS: 200, SERVER_DEAD_AFTER_MS: 1000 }

/** `count` servers on one prefix, started side by side; killed when `t` ends (or this process does). */
export async function startCluster<N extends 1 | 2 | 3> (t: Test, count: N, env: Env = {}): Promise<{ servers: Servers<N>, shared: Isolation }> {
  const shared = isolate(t)
  const servers = await Promise.all(Array.from({ length: count }, async (_, i) => {
    const id = `server-${i + 1}`
    const server = await startServer(t, testEnv(shared.prefix, { ...FAST_LIVENESS, POSITION_FLUSH_MS: 50, SERVER_ID: id, ...env }))
    return { ...server, id }
  }))
  return { servers: servers as Servers<N>, shared }
}

/** PUT /admin/spaces/:id on `server`; resolves to the status. */
export async function defineSpace (server: ServerProcess, id: string, body: unknown): Promise<number> {
  const reply = await fetch(`${server.http}/admin/spaces/${id}`, { method: 'PUT', headers: ADMIN, body: JSON.stringify(body) })
  await reply.arrayBuffer()
  return reply.status
}

/** A client of `server`, closed when `t` ends. */
export async function connect (t: Test, server: ServerProcess, protocol: 'plaza.v1' | 'metaverse' = 'plaza.v1'): Promise<TestClient> {
  const client = await TestClient.connect(`${server.ws}/ws`, protocol)
  t.teardown(() => client.close())
  return client
}

/** One users-hash entry, parsed ({} when absent). */
export async function entry (shared: Isolation, spaceId: string, userId: string): Promise<Record<string, unknown>> {
  return JSON.parse(await shared.redis.hget(`${shared.prefix}space:${spaceId}:users`, userId) ?? '{}') as Record<string, unknown>
}

/** Redis's clock, in ms: what servers score their heartbeats with. */
export async function redisNow (shared: Isolation): Promise<number> {
  const [seconds, micros] = await shared.redis.time()
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
}

export const moveType = (c: TestClient): string => c.dialect === 'metaverse' ? 'movement' : 'user-moved'
export const joinType = (c: TestClient): string => c.dialect === 'metaverse' ? 'user-joined' : 'user-joined-space'
