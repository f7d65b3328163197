import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import { splitMember } from './entry.js'
import type { Census, PresenceTotals } from './store.js'

/** Counts across every server, read from the sweep's indexes: one pass over every entry, whatever the number of spaces. */
export async function readCensus (redis: Redis, keys: RedisKeys): Promise<Census> {
  const [all, ghosts] = await Promise.all([redis.zrange(keys.presenceIndex, '0', '-1'), redis.zrange(keys.ghostIndex, '0', '-1')])
  const bySpace = new Map<string, { spaceId: string, userCount: number, ghostCount: number }>()
  const tally = (members: string[], field: 'userCount' | 'ghostCount'): void => {
    for (const member of members) {
      const { spaceId } = splitMember(member)
      let entry = bySpace.get(spaceId)
      if (entry === undefined) {
        entry = { spaceId, userCount: 0, ghostCount: 0 }
        bySpace.set(spaceId, entry)
      }
      entry[field]++
    }
  }
  tally(all, 'userCount')
  tally(ghosts, 'ghostCount')
  const spacesWithUsers = [...bySpace.values()].sort((a, b) => (a.spaceId < b.spaceId ? -1 : 1))
  return { totalUsers: all.length, connectedUsers: all.length - ghosts.length, ghostUsers: ghosts.length, spacesWithUsers }
}

/** The totals alone: two counts, whatever the number of users. */
export async function readTotals (redis: Redis, keys: RedisKeys): Promise<PresenceTotals> {
  const [all, ghosts] = await Promise.all([redis.zcard(keys.presenceIndex), redis.zcard(keys.ghostIndex)])
  return { connectedUsers: all - ghosts, ghostUsers: ghosts }
}
