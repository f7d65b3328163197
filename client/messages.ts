/**
 * The plaza.v1 dialect as a client sees it (shared/PROTOCOL.md §3): one type per server message.
 * Names and codes come from the server's own protocol table, so the two cannot drift apart.
 */
import { type ErrorCode, parseJsonObject, type RejectReason } from '../src/protocol.js'

export { CloseCode, ErrorCode, RejectReason } from '../src/protocol.js'

export interface Position { x: number, y: number }

export interface Obstacle { x: number, y: number, width?: number, height?: number }

export interface SpaceInfo {
  id: string
  width: number
  height: number
  obstacles: Obstacle[]
}

/** Someone in the space other than you; `connected: false` is a ghost (their connection dropped). */
export interface PeerEntry {
  userId: string
  username: string
  x: number
  y: number
  connected: boolean
}

export interface SpaceJoined {
  userId: string
  spawn: Position
  users: PeerEntry[]
  resumed: boolean
  space: SpaceInfo
}
export interface UserJoinedSpace { userId: string, username: string, x: number, y: number }
export interface UserMoved { userId: string, x: number, y: number }
export interface MoveRejected { x: number, y: number, reason: RejectReason }
export interface UserDisconnected { userId: string }
export interface UserLeft { userId: string }
export interface Heartbeat { timestamp: number, serverTime: number }
export interface ServerError { code: ErrorCode, message: string, close?: number }

/** Every message the server sends a plaza.v1 client, by its wire `type`. */
export interface ServerMessages {
  'space-joined': SpaceJoined
  'user-joined-space': UserJoinedSpace
  'user-moved': UserMoved
  'move-rejected': MoveRejected
  'user-disconnected': UserDisconnected
  'user-left': UserLeft
  heartbeat: Heartbeat
  error: ServerError
}

export type ServerMessageType = keyof ServerMessages

const SERVER_TYPES: ReadonlySet<string> = new Set<ServerMessageType>([
  'space-joined', 'user-joined-space', 'user-moved', 'move-rejected', 'user-disconnected', 'user-left', 'heartbeat', 'error'
])

/** A frame from the server as `{type, payload}`, or undefined when it is not one this client knows. */
export function parseServerMessage (data: unknown): { type: ServerMessageType, payload: Record<string, unknown> } | undefined {
  if (typeof data !== 'string') return undefined
  const frame = parseJsonObject(data)
  if (frame === undefined) return undefined
  const { type, payload } = frame
  if (typeof type !== 'string' || !SERVER_TYPES.has(type)) return undefined
  if (typeof payload !== 'object' || payload === null) return undefined
  return { type: type as ServerMessageType, payload: payload as Record<string, unknown> }
}
