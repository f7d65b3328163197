/**
 * Every Redis key Plaza uses, behind the optional KEY_PREFIX. The users hash is the design's
 * (`space:{spaceId}:users`); the rest is Plaza's own (docs/operations.md, "Redis layout").
 */
export function redisKeys (prefix: string) {
  const spaceChannelPrefix = `${prefix}plaza:space:`
  return {
    prefix,
    /** Hash: field userId, value JSON {username, x, y, connectionId, lastUpdated, connected, serverId}. */
    spaceUsers: (spaceId: string) => `${prefix}space:${spaceId}:users`,
    /** Hash: field userId, value the id of the server holding that user's avatar (claimed at join). */
    spaceOwners: (spaceId: string) => `${prefix}space:${spaceId}:owners`,
    /**
     * Stream: the space's chat history, fields u (userId), n (username), t (text), s (sentAt, ms),
     * k (the accepting server's nonce), and i (the message id, when it is not the entry's own).
     */
    spaceChat: (spaceId: string) => `${prefix}space:${spaceId}:chat`,
    /** Hash: a chat message id that is not its entry's id (written back after an outage) → that entry's id. */
    spaceChatIds: (spaceId: string) => `${prefix}space:${spaceId}:chat-ids`,
    /** Hash of one space's figures for one UTC day (YYYY-MM-DD): visits, sessions, sessionMs, chatMessages, peakUsers. */
    spaceAnalytics: (spaceId: string, date: string) => `${prefix}space:${spaceId}:analytics:${date}`,
    /** Set: the userIds of one space's sessions on one UTC day, exact until it would pass 1,000 members. */
    spaceUniques: (spaceId: string, date: string) => `${prefix}space:${spaceId}:uniques:${date}`,
    /** HyperLogLog: the same userIds once the set grew too large (the set is then deleted). */
    spaceUniquesHll: (spaceId: string, date: string) => `${prefix}space:${spaceId}:uniques-hll:${date}`,
    /** Hash: field spaceId, value the space definition as JSON. */
    spaces: `${prefix}plaza:spaces`,
    /** Sorted set: every users-hash entry as "spaceId userId", scored by its lastUpdated (the sweep's index). */
    presenceIndex: `${prefix}plaza:presence`,
    /** Sorted set: the entries of the index that are ghosts (connected: false), for cluster counts. */
    ghostIndex: `${prefix}plaza:ghosts`,
    /** Sorted set: live servers, scored by their last heartbeat (ms). */
    servers: `${prefix}plaza:servers`,
    /** Set: the "spaceId userId" entries a server holds connected, for when it dies. */
    serverUsers: (serverId: string) => `${prefix}plaza:server:${serverId}:users`,
    /** Pub/Sub channel of one space's events between servers. */
    spaceChannel: (spaceId: string) => `${spaceChannelPrefix}${spaceId}`,
    spaceOfChannel: (channel: string) => channel.startsWith(spaceChannelPrefix) ? channel.slice(spaceChannelPrefix.length) : undefined,
    /** Pub/Sub channel of deployment-wide events (space definitions). */
    controlChannel: `${prefix}plaza:control`
  }
}

export type RedisKeys = ReturnType<typeof redisKeys>
