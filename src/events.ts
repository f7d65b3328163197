import type { ErrorCode, RejectReason } from './protocol.js'
import type { SpaceDefinition } from './spaces/space.js'

/** Who stands where: a user's shape wherever servers tell each other and clients about them. */
export interface UserPosition {
  userId: string
  username: string
  x: number
  y: number
}

/** Where a user stands and whether they are at the keyboard (PROTOCOL §10). */
export interface ActiveUser extends UserPosition {
  /** ms since epoch of the user's last activity. */
  lastActive: number
  idle: boolean
}

/** A user as a joiner's snapshot shows them: on the wire, in the join's `users`. */
export interface UserView extends ActiveUser {
  connected: boolean
}

/** One chat message as everyone in the space gets it (PROTOCOL §9). */
export interface ChatMessage {
  /** Unique in the space: the history's id for it. */
  id: string
  userId: string
  username: string
  text: string
  /** ms since epoch, the accepting server's clock. */
  sentAt: number
}

/**
 * What happens in a space, told to everyone else in it. The room manager emits these; a dialect's
 * codec decides the wire name and shape, or that its clients are not told at all.
 */
export type RoomEvent =
  | ({ kind: 'joined' } & UserPosition)
  | { kind: 'moved', userId: string, x: number, y: number }
  | { kind: 'dropped', userId: string }
  /** `wasConnected`: the user left while still connected, so no drop was announced before. */
  | { kind: 'left', userId: string, wasConnected: boolean }
  /** The user went idle, or was active again (then told before the activity's own event). */
  | { kind: 'idle', userId: string, idle: boolean, lastActive: number }
  | { kind: 'chat', message: ChatMessage }

/** What one connection is told about itself. */
export type DirectEvent =
  | {
    kind: 'welcome'
    userId: string
    spawn: { x: number, y: number }
    users: UserView[]
    resumed: boolean
    space: SpaceDefinition
    /** The space's last messages, oldest first. */
    chat: ChatMessage[]
  }
  | { kind: 'chat-history', messages: ChatMessage[], more: boolean }
  | { kind: 'move-rejected', x: number, y: number, reason: RejectReason }
  | { kind: 'heartbeat', timestamp: number, serverTime: number }
  | { kind: 'error', code: ErrorCode, message: string, close?: number }

export type ServerEvent = RoomEvent | DirectEvent
