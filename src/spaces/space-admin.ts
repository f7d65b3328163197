import type { ControlEvent } from '../cluster/cluster-bus.js'
import { type ClusterLink, LOCAL_ONLY } from '../cluster/cluster-link.js'
import type { Logger } from '../logger.js'
import type { SpaceChat } from '../chat/space-chat.js'
import type { SessionEvents } from '../rooms/room-manager.js'
import type { PresenceStore } from '../presence/store.js'
import type { Space, SpaceDefinition } from './space.js'
import type { SpaceRegistry } from './space-registry.js'

export interface SpaceAdminOptions {
  spaces: SpaceRegistry
  presence: PresenceStore
  cluster?: ClusterLink
  /** A deleted space's users' sessions end (PROTOCOL §11). */
  sessions?: Pick<SessionEvents, 'sessionEnded'>
  /** The spaces' chat history: deleting a space deletes it. */
  chat?: Pick<SpaceChat, 'clear' | 'cleared' | 'restoredElsewhere'>
  /** Closes this server's connections to a space with 4004; true when there were any. */
  evict: (spaceId: string) => boolean
  log: Logger
}

/**
 * Defining and deleting spaces for the whole deployment: the registry (Redis, cached), the users of
 * a deleted space on every server, and what the other servers are told.
 */
export class SpaceAdmin {
  readonly #spaces: SpaceRegistry
  readonly #presence: PresenceStore
  readonly #cluster: ClusterLink
  readonly #sessions: Pick<SessionEvents, 'sessionEnded'> | undefined
  readonly #chat: Pick<SpaceChat, 'clear' | 'cleared' | 'restoredElsewhere'> | undefined
  readonly #evict: (spaceId: string) => boolean
  readonly #log: Logger

  constructor (options: SpaceAdminOptions) {
    this.#spaces = options.spaces
    this.#presence = options.presence
    this.#cluster = options.cluster ?? LOCAL_ONLY
    this.#chat = options.chat
    this.#sessions = options.sessions
    this.#evict = options.evict
    this.#log = options.log
  }

  /**
   * Defines or redefines a space (built by the registry, or a definition known to be valid), and
   * tells the other servers to read it again. Throws SpacesFullError, telling nobody, when the
   * deployment has no room for one more.
   */
  async define (space: Space | SpaceDefinition): Promise<{ created: boolean }> {
    const { created } = await this.#spaces.put(space)
    await this.#cluster.publishControl({ kind: 'space-changed', spaceId: space.id }).catch(() => {})
    return { created }
  }

  /**
   * Deletes a space: its definition, its users in the store, and its connections on every server,
   * which are closed with 4004. False when there was no such space.
   */
  async delete (spaceId: string): Promise<boolean> {
    const existed = await this.#spaces.remove(spaceId)
    const hadUsers = this.#evict(spaceId)
    const removed = await this.#presence.removeSpace(spaceId).catch((err: unknown) => {
      this.#log.warn({ err, spaceId }, `Could not remove the users of deleted space ${spaceId} from Redis`)
      return []
    })
    const now = Date.now()
    // Connected users' sessions are ended by their servers as they close them; ghosts belong to none.
    for (const user of removed) if (!user.connected) this.#sessions?.sessionEnded(spaceId, user.sessionStart, now)
    await this.#chat?.clear(spaceId).catch((err: unknown) => {
      this.#log.warn({ err, spaceId }, `Could not remove the chat history of deleted space ${spaceId} from Redis`)
    })
    await this.#cluster.publishControl({ kind: 'space-deleted', spaceId }).catch(() => {})
    return existed || hadUsers
  }

  /**
   * Writes back the definitions this server holds (Redis returned, perhaps empty); tells the others
   * when some were defined here while Redis was away.
   */
  async restore (): Promise<void> {
    if (await this.#spaces.persistAll()) await this.announce()
  }

  /** Deletes a space's chat history for everyone: every server forgets what it held of it. */
  async clearChat (spaceId: string): Promise<void> {
    if (this.#chat === undefined) return
    await this.#chat.clear(spaceId)
    await this.#cluster.publishControl({ kind: 'chat-cleared', spaceId }).catch(() => {})
  }

  /** Tells the other servers to read every definition again. */
  async announce (): Promise<void> {
    await this.#cluster.publishControl({ kind: 'spaces-changed' }).catch(() => {})
  }

  /** Another server changed the deployment: a space was redefined or deleted there. */
  onControl (event: ControlEvent): void {
    if (event.kind === 'spaces-changed') {
      void this.#spaces.loadAll()
      return
    }
    if (event.kind === 'space-changed') {
      void this.#spaces.resolve(event.spaceId)
      return
    }
    if (event.kind === 'chat-restored') {
      this.#chat?.restoredElsewhere(event.spaceIds)
      return
    }
    this.#chat?.cleared(event.spaceId)
    if (event.kind === 'chat-cleared') return
    this.#spaces.forget(event.spaceId)
    this.#evict(event.spaceId)
  }
}
