import type { ChatMessage } from '../events.js'

/** A chat message as its sender's server accepted it, before the history gave it an id. */
export interface ChatDraft {
  userId: string
  username: string
  text: string
  sentAt: number
}

/** One page of history, oldest first; `more` when older messages exist. */
export interface ChatPage {
  messages: ChatMessage[]
  more: boolean
}

/**
 * A space's chat as the room manager needs it (PROTOCOL §9): messages sent, delivered to every
 * server in one order through `deliver`, the recent ones held in memory for a joiner's
 * `space-joined.chat`, older pages read on demand. SpaceChat is the Redis one; LocalChat a
 * process's own.
 */
export interface ChatLink {
  /** Where accepted messages go, in the space's one order, each once: set by the room manager. */
  onDeliver: (deliver: (spaceId: string, message: ChatMessage) => void) => void
  /** Reads the space's recent history into memory, once while this server is in the space. */
  load: (spaceId: string) => Promise<void>
  /** The space's last messages held here, oldest first. */
  recent: (spaceId: string) => ChatMessage[]
  /** Accepts a message: it is delivered (to this server's users too) through `deliver`. */
  send: (spaceId: string, draft: ChatDraft) => void
  /** The messages older than `before` (the newest when undefined); undefined when `before` is unknown. */
  page: (spaceId: string, before: string | undefined, limit: number) => Promise<ChatPage | undefined>
  /** This server left the space: its messages are no longer held. */
  forget: (spaceId: string) => void
}
