import type { Redis } from 'ioredis'
import type { UserView } from '../events.js'
import type { RedisKeys } from '../keys.js'
import { decodeEntry } from './entry.js'

/**
 * Everyone Redis holds in a space, across every server: connected users and ghosts, by name. Entries
 * that cannot be read are left out. Rejects when Redis does not answer (the client's command timeout).
 */
export async function readSpaceUsers (redis: Redis, keys: RedisKeys, spaceId: string, idleAfterMs: number, now = Date.now()): Promise<UserView[]> {
  const hash = await redis.hgetall(keys.spaceUsers(spaceId))
  const users: UserView[] = []
  for (const [userId, value] of Object.entries(hash)) {
    const stored = decodeEntry(userId, value)
    if (stored === undefined) continue
    const { username, x, y, connected, lastActive } = stored
    users.push({ userId, username, x, y, connected, lastActive, idle: lastActive <= now - idleAfterMs })
  }
  return users.sort((a, b) => a.username.localeCompare(b.username) || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0))
}
