/**
 * Every Redis key Plaza uses, behind the optional KEY_PREFIX. The users hash is the design's
 * (`space:{spaceId}:users`); the rest is Plaza's own (README, "Redis layout").
 */
export function redisKeys (prefix: string) {
  return {
    prefix,
    /** Hash: field userId, value JSON {username, x, y, connectionId, lastUpdated, connected, serverId}. */
    spaceUsers: (spaceId: string) => `${prefix}space:${spaceId}:users`,
    /** Hash: field spaceId, value the space definition as JSON. */
    spaces: `${prefix}plaza:spaces`,
    /** Sorted set: every users-hash entry as "spaceId userId", scored by its lastUpdated (the sweep's index). */
    presenceIndex: `${prefix}plaza:presence`,
    /** Sorted set: the entries of the index that are ghosts (connected: false), for cluster counts. */
    ghostIndex: `${prefix}plaza:ghosts`
  }
}

export type RedisKeys = ReturnType<typeof redisKeys>
