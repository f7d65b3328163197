/**
 * Every Redis key Plaza uses, behind the optional KEY_PREFIX. The users hash is the design's
 * (`space:{spaceId}:users`); the rest is Plaza's own (README, "Redis layout").
 */
export function redisKeys (prefix: string) {
  return {
    /** Hash: field userId, value JSON {username, x, y, connectionId, lastUpdated, connected, serverId}. */
    spaceUsers: (spaceId: string) => `${prefix}space:${spaceId}:users`,
    /** Hash: field spaceId, value the space definition as JSON. */
    spaces: `${prefix}plaza:spaces`
  }
}

export type RedisKeys = ReturnType<typeof redisKeys>
