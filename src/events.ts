import type { ErrorCode, RejectReason } from './protocol.js'
import type { SpaceDefinition } from './spaces/space.js'

/** Who stands where: a user's shape wherever servers tell each other and clients about them. */
export interface UserPosition {
  userId: string
  username: string
  x: number
  y: number
}

/** A user as a joiner's snapshot shows them: on the wire, in the join's `users`. */
export interface UserView extends UserPosition {
  connected: boolean
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

/** What one connection is told about itself. */
export type DirectEvent =
  | {
    kind: 'welcome'
    userId: string
    spawn: { x: number, y: number }
    users: UserView[]
    resumed: boolean
    space: SpaceDefinition
  }
  | { kind: 'move-rejected', x: number, y: number, reason: RejectReason }
  | { kind: 'heartbeat', timestamp: number, serverTime: number }
  | { kind: 'error', code: ErrorCode, message: string, close?: number }

export type ServerEvent = RoomEvent | DirectEvent
