import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import { decodeEntry } from './entry.js'

/** One user of a space as an operator sees it: where they stand, and whether anyone is there. */
export interface SpaceUser {
  userId: string
  username: string
  x: number
  y: number
  connected: boolean
  /** ms since epoch of the user's last activity (PROTOCOL §10). */
  lastActive: number
  /** No activity for the idle threshold (ghosts too, with the lastActive they had, as in `space-joined`). */
  idle: boolean
}

/**
 * Everyone Redis holds in a space, across every server: connected users and ghosts, by name. Entries
 * that cannot be read are left out. Rejects when Redis does not answer (the client's command timeout).
 */
export async function readSpaceUsers (redis: Redis, keys: RedisKeys, spaceId: string, idleAfterMs: number, now = Date.now()): Promise<SpaceUser[]> {
  const hash = await redis.hgetall(keys.spaceUsers(spaceId))
  const users: SpaceUser[] = []
  for (const [userId, value] of Object.entries(hash)) {
    const stored = decodeEntry(userId, value)
    if (stored === undefined) continue
    const { username, x, y, connected, lastActive } = stored
    users.push({ userId, username, x, y, connected, lastActive, idle: lastActive <= now - idleAfterMs })
  }
  return users.sort((a, b) => a.username.localeCompare(b.username) || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0))
}
