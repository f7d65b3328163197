/**
 * What a client knows of its space, as a pure function of what the server said and when it was
 * heard: no socket, no timer, no event. A view is never changed; each message gives the next one.
 */
import type { ChatHistory, ChatMessage, Position, ServerMessage, SpaceInfo } from './messages.js'
import { PeerMap } from './peer-map.js'

/** You, as the server placed you (and as your own moves since then predict). */
export interface Self { userId: string, x: number, y: number }

export interface SpaceView {
  readonly self: Self | undefined
  /** Everyone else in the space, ghosts included (`connected: false`), by userId. */
  readonly users: PeerMap
  /** The space joined: size and obstacles. */
  readonly space: SpaceInfo | undefined
  /**
   * The space's chat as far as this client holds it, oldest first, one entry per message id; at
   * most MAX_HELD_CHAT once a message is added (see there).
   */
  readonly chat: readonly ChatMessage[]
  /** The ids of `chat`'s messages. */
  readonly chatIds: ReadonlySet<string>
  /**
   * Whether messages older than `chat[0]` exist: as the last page of history said, true once old
   * messages were dropped for MAX_HELD_CHAT, false after a join that brought none; undefined when
   * the join does not tell and no page was asked for since.
   */
  readonly moreChat: boolean | undefined
}

/**
 * The most messages a view holds after a chat message or a join: the oldest go first (they are
 * still on the server, so `moreChat` becomes true). A page of older messages is added whole, since
 * the reader asked for it; the next message brings the list back down.
 */
export const MAX_HELD_CHAT = 1000

/** Before any space is joined, and after it is left. */
export const EMPTY_VIEW: SpaceView = { self: undefined, users: PeerMap.EMPTY, space: undefined, chat: [], chatIds: new Set(), moreChat: undefined }

/**
 * The view after `message`, heard at `now` (ms since epoch: a peer's join or move makes them active
 * as of then), or the same view when the message changes nothing in it. A `chat-history` page
 * changes nothing here: only the client knows whether it asked for it (see withOlderChat).
 */
export function nextSpaceView (view: SpaceView, message: ServerMessage, now: number): SpaceView {
  const { users } = view
  switch (message.type) {
    case 'space-joined': {
      // Everything known of the space before is replaced: this is the server's whole account of it.
      const { userId, spawn, users: peers, space, chat } = message.payload
      return {
        self: { userId, x: spawn.x, y: spawn.y },
        users: PeerMap.of(peers.map((peer) => ({ ...peer }))),
        space,
        ...joinedChat(view, space.id, chat)
      }
    }
    case 'user-joined-space': {
      const { userId, username, x, y } = message.payload
      // Joining counts as activity (PROTOCOL §10).
      return { ...view, users: users.with({ userId, username, x, y, connected: true, lastActive: now, idle: false }) }
    }
    case 'user-moved': {
      const { userId, x, y } = message.payload
      // Someone this view has not heard join yet is shown under their userId.
      const known = users.get(userId) ?? { userId, username: userId }
      return { ...view, users: users.with({ ...known, x, y, connected: true, lastActive: now, idle: false }) }
    }
    case 'user-disconnected': {
      const ghost = users.get(message.payload.userId)
      return ghost === undefined ? view : { ...view, users: users.with({ ...ghost, connected: false }) }
    }
    case 'user-left': {
      const rest = users.without(message.payload.userId)
      return rest === users ? view : { ...view, users: rest }
    }
    case 'user-idle': {
      const { userId, idle, lastActive } = message.payload
      const known = users.get(userId)
      return known === undefined ? view : { ...view, users: users.with({ ...known, idle, lastActive }) }
    }
    case 'chat-message': {
      const chat = message.payload
      if (view.chatIds.has(chat.id)) return view
      // An accepted chat is activity: its sender is active as of when the server took it.
      const sender = users.get(chat.userId)
      return {
        ...view,
        ...capped([...view.chat, { ...chat }], view.moreChat),
        users: sender === undefined ? users : users.with({ ...sender, idle: false, lastActive: Math.max(sender.lastActive, chat.sentAt) })
      }
    }
    case 'move-rejected':
      // The server has you where it says: your own prediction was wrong.
      return withSelfAt(view, message.payload)
    case 'chat-history':
    case 'heartbeat':
    case 'error':
      return view
  }
}

/**
 * The chat after joining `spaceId` with its last messages `chat`. On a rejoin of the same space
 * whose messages carry on from what is held, what is held before them is kept (older pages stay
 * loaded); otherwise (a first join, or more was said while away than a join carries) they replace it.
 */
function joinedChat (view: SpaceView, spaceId: string, chat: ChatMessage[]): Pick<SpaceView, 'chat' | 'chatIds' | 'moreChat'> {
  const fresh = chat.map((message) => ({ ...message }))
  const first = chat[0]
  // A join brings the space's last messages: none means there is nothing older either.
  if (first === undefined) return { chat: fresh, chatIds: new Set(), moreChat: false }
  if (view.space?.id !== spaceId || !view.chatIds.has(first.id)) return capped(fresh, undefined)
  const at = view.chat.findIndex((held) => held.id === first.id)
  return capped([...view.chat.slice(0, at), ...fresh], view.moreChat)
}

/** `chat` with its ids, without its oldest messages beyond MAX_HELD_CHAT (then older ones exist). */
function capped (chat: readonly ChatMessage[], moreChat: boolean | undefined): Pick<SpaceView, 'chat' | 'chatIds' | 'moreChat'> {
  const kept = chat.length > MAX_HELD_CHAT ? chat.slice(chat.length - MAX_HELD_CHAT) : chat
  return { chat: kept, chatIds: new Set(kept.map((message) => message.id)), moreChat: kept === chat ? moreChat : true }
}

/**
 * The view with a page of older messages, asked for with `before` = the oldest held (or, holding
 * none, the newest page), put before what is held; a message already held is not added again.
 */
export function withOlderChat (view: SpaceView, page: ChatHistory): SpaceView {
  const older = page.messages.filter((message) => !view.chatIds.has(message.id)).map((message) => ({ ...message }))
  const chat = [...older, ...view.chat]
  return { ...view, chat, chatIds: new Set(chat.map((message) => message.id)), moreChat: page.more }
}

/** The view with you on `to`: a move of your own as it is sent, ahead of the server's answer. */
export function withSelfAt (view: SpaceView, to: Position): SpaceView {
  const { self } = view
  return self === undefined ? view : { ...view, self: { userId: self.userId, x: to.x, y: to.y } }
}
