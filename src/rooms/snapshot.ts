import type { RemoteUser } from '../cluster/remote-users.js'
import type { UserView } from '../events.js'
import type { StoredUser } from '../presence/store.js'
import type { Space } from '../spaces/space.js'
import type { Member } from './member.js'

/**
 * Memory (this server's and what others told) merged over the store, one entry per userId, the
 * joiner left out. Who is idle: memory says; for the store's entries, whoever was last active at or
 * before `idleCutoff` (ghosts included, with the lastActive they had).
 */
export function snapshot (room: Map<string, Member>, remote: Map<string, RemoteUser>, stored: StoredUser[], joinerId: string, idleCutoff: number): UserView[] {
  const users: UserView[] = []
  for (const m of room.values()) {
    if (m.userId !== joinerId) users.push({ userId: m.userId, username: m.username, x: m.x, y: m.y, connected: true, lastActive: m.lastActive, idle: m.idle })
  }
  for (const r of remote.values()) {
    if (r.userId !== joinerId && !room.has(r.userId)) {
      users.push({ userId: r.userId, username: r.username, x: r.x, y: r.y, connected: true, lastActive: r.lastActive, idle: r.idle })
    }
  }
  for (const u of stored) {
    if (u.userId !== joinerId && !room.has(u.userId) && !remote.has(u.userId)) {
      users.push({ userId: u.userId, username: u.username, x: u.x, y: u.y, connected: u.connected, lastActive: u.lastActive, idle: u.lastActive <= idleCutoff })
    }
  }
  return users
}

/** The tiles anyone stands on, as indexes into the space's grid. */
export function occupied (space: Space, groups: Array<Iterable<{ x: number, y: number }>>): Set<number> {
  const tiles = new Set<number>()
  for (const group of groups) {
    for (const u of group) if (space.inBounds(u.x, u.y)) tiles.add(u.y * space.width + u.x)
  }
  return tiles
}
