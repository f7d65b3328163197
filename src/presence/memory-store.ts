import { getOrCreate } from '../util/maps.js'
import { snapshot } from './entry.js'
import type { Census, JoinRead, PresenceRecord, PresenceStore, PresenceTotals, StoreFaultReport, StoredUser } from './store.js'

/**
 * The presence store of one process, in memory: what Redis would hold for a lone server, written at
 * once. Entries never expire and nothing is shared; for tests of the room manager and tools.
 */
export class MemoryPresenceStore implements PresenceStore {
  readonly #serverId: string
  /** Entries by space, then by user. */
  readonly #spaces = new Map<string, Map<string, StoredUser>>()
  /** The server holding each avatar, by space, then by user. */
  readonly #owners = new Map<string, Map<string, string>>()

  constructor (serverId: string) {
    this.#serverId = serverId
  }

  async claimAndRead (spaceId: string, userId: string, claim: boolean): Promise<JoinRead> {
    let previousOwner: string | undefined
    if (claim) {
      const owners = getOrCreate(this.#owners, spaceId, () => new Map<string, string>())
      previousOwner = owners.get(userId)
      owners.set(userId, this.#serverId)
    }
    // As from Redis: users connected to this server are left out, its memory has them.
    const users = [...(this.#spaces.get(spaceId)?.values() ?? [])].filter((u) => !(u.connected && u.serverId === this.#serverId))
    return { users, fromStore: true, previousOwner }
  }

  save (spaceId: string, record: PresenceRecord): void {
    getOrCreate(this.#spaces, spaceId, () => new Map<string, StoredUser>()).set(record.userId, { ...snapshot(record), serverId: this.#serverId })
  }

  async saveJoin (spaceId: string, record: PresenceRecord): Promise<boolean> {
    this.save(spaceId, record)
    return true
  }

  async saveNow (spaceId: string, record: PresenceRecord): Promise<boolean> {
    this.save(spaceId, record)
    return true
  }

  async remove (spaceId: string, userId: string): Promise<boolean> {
    this.#spaces.get(spaceId)?.delete(userId)
    this.#release(spaceId, userId)
    return true
  }

  release (spaceId: string, userId: string): void {
    this.#release(spaceId, userId)
  }

  reclaim (): void {}

  async flush (): Promise<boolean> {
    return true
  }

  async census (): Promise<Census> {
    const spacesWithUsers: Census['spacesWithUsers'] = []
    for (const [spaceId, users] of [...this.#spaces].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (users.size === 0) continue
      const ghostCount = [...users.values()].filter((u) => !u.connected).length
      spacesWithUsers.push({ spaceId, userCount: users.size, ghostCount })
    }
    const totalUsers = spacesWithUsers.reduce((sum, s) => sum + s.userCount, 0)
    const ghostUsers = spacesWithUsers.reduce((sum, s) => sum + s.ghostCount, 0)
    return { totalUsers, connectedUsers: totalUsers - ghostUsers, ghostUsers, spacesWithUsers }
  }

  async totals (): Promise<PresenceTotals> {
    const { connectedUsers, ghostUsers } = await this.census()
    return { connectedUsers, ghostUsers }
  }

  faults (): StoreFaultReport {
    return { keys: [], refused: 0 }
  }

  async removeSpace (spaceId: string): Promise<StoredUser[]> {
    const users = [...(this.#spaces.get(spaceId)?.values() ?? [])]
    this.#spaces.delete(spaceId)
    this.#owners.delete(spaceId)
    return users
  }

  async close (): Promise<void> {}

  /** Lets go of the avatar if this server holds it. */
  #release (spaceId: string, userId: string): void {
    const owners = this.#owners.get(spaceId)
    if (owners?.get(userId) === this.#serverId) owners.delete(userId)
  }
}
