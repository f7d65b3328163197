import { parseJsonObject } from '../protocol.js'
import type { PresenceRecord, StoredUser } from './store.js'

/**
 * A record as its hash value. `connected` and `serverId` come last: a join's read recognises the
 * entries of users connected to this server by that ending (ownConnectedEnding).
 */
export function encodeEntry (record: PresenceRecord, serverId: string): string {
  return JSON.stringify({
    username: record.username,
    x: record.x,
    y: record.y,
    connectionId: record.connectionId,
    lastUpdated: record.lastUpdated,
    lastActive: record.lastActive,
    sessionStart: record.sessionStart,
    connected: record.connected,
    serverId
  })
}

/** How encodeEntry ends the value of a user connected to `serverId`. */
export function ownConnectedEnding (serverId: string): string {
  return `,"connected":true,"serverId":${JSON.stringify(serverId)}}`
}

/** Reads one hash entry, tolerating what other writers (or older Plazas) may have left there. */
export function decodeEntry (userId: string, value: string): StoredUser | undefined {
  const e = parseJsonObject(value)
  if (e === undefined) return undefined
  if (!Number.isSafeInteger(e.x) || !Number.isSafeInteger(e.y)) return undefined
  const lastUpdated = typeof e.lastUpdated === 'number' ? e.lastUpdated : 0
  return {
    userId,
    username: typeof e.username === 'string' ? e.username : userId,
    x: e.x as number,
    y: e.y as number,
    connectionId: typeof e.connectionId === 'string' ? e.connectionId : '',
    lastUpdated,
    // Entries written before activity was kept: their last update is the best guess.
    lastActive: typeof e.lastActive === 'number' ? e.lastActive : lastUpdated,
    sessionStart: typeof e.sessionStart === 'number' ? e.sessionStart : lastUpdated,
    // PROTOCOL §6: an entry without `connected` counts as connected.
    connected: e.connected !== false,
    ...(typeof e.serverId === 'string' ? { serverId: e.serverId } : {})
  }
}

/** A record's fields alone, copied: a live member keeps changing after it was queued. */
export function snapshot (record: PresenceRecord): PresenceRecord {
  const { userId, username, x, y, connectionId, lastUpdated, lastActive, sessionStart, connected } = record
  return { userId, username, x, y, connectionId, lastUpdated, lastActive, sessionStart, connected }
}

/** The index member for one user in one space (space ids never contain a space). */
export const indexMember = (spaceId: string, userId: string): string => `${spaceId} ${userId}`

/** The space and user of an index member. */
export function splitMember (member: string): { spaceId: string, userId: string } {
  const sep = member.indexOf(' ')
  return { spaceId: member.slice(0, sep), userId: member.slice(sep + 1) }
}
