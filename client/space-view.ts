/**
 * What a client knows of its space, as a pure function of what the server said: no socket, no
 * timer, no event. A view is never changed; each message gives the next one.
 */
import type { Position, ServerMessage, SpaceInfo } from './messages.js'
import { PeerMap } from './peer-map.js'

/** You, as the server placed you (and as your own moves since then predict). */
export interface Self { userId: string, x: number, y: number }

export interface SpaceView {
  readonly self: Self | undefined
  /** Everyone else in the space, ghosts included (`connected: false`), by userId. */
  readonly users: PeerMap
  /** The space joined: size and obstacles. */
  readonly space: SpaceInfo | undefined
}

/** Before any space is joined, and after it is left. */
export const EMPTY_VIEW: SpaceView = { self: undefined, users: PeerMap.EMPTY, space: undefined }

/** The view after `message` (the same view when the message changes nothing in it). */
export function nextSpaceView (view: SpaceView, message: ServerMessage): SpaceView {
  const { users } = view
  switch (message.type) {
    case 'space-joined': {
      // Everything known of the space before is replaced: this is the server's whole account of it.
      const { userId, spawn, users: peers, space } = message.payload
      return { self: { userId, x: spawn.x, y: spawn.y }, users: PeerMap.of(peers.map((peer) => ({ ...peer }))), space }
    }
    case 'user-joined-space': {
      const { userId, username, x, y } = message.payload
      return { ...view, users: users.with({ userId, username, x, y, connected: true }) }
    }
    case 'user-moved': {
      const { userId, x, y } = message.payload
      // Someone this view has not heard join yet is shown under their userId.
      const known = users.get(userId) ?? { userId, username: userId }
      return { ...view, users: users.with({ ...known, x, y, connected: true }) }
    }
    case 'user-disconnected': {
      const ghost = users.get(message.payload.userId)
      return ghost === undefined ? view : { ...view, users: users.with({ ...ghost, connected: false }) }
    }
    case 'user-left': {
      const rest = users.without(message.payload.userId)
      return rest === users ? view : { ...view, users: rest }
    }
    case 'move-rejected':
      // The server has you where it says: your own prediction was wrong.
      return withSelfAt(view, message.payload)
    case 'heartbeat':
    case 'error':
      return view
  }
}

/** The view with you on `to`: a move of your own as it is sent, ahead of the server's answer. */
export function withSelfAt (view: SpaceView, to: Position): SpaceView {
  const { self } = view
  return self === undefined ? view : { ...view, self: { userId: self.userId, x: to.x, y: to.y } }
}
