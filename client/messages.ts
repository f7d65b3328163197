/**
 * The plaza.v1 dialect as a client sees it (shared/PROTOCOL.md §3, §9, §10): one type per server message,
 * and the parser that checks a frame against them. Names and codes come from the server's own
 * protocol table, so the two cannot drift apart.
 */
import type { ChatMessage } from '../src/events.js'
import { ErrorCode, parseJsonObject, RejectReason } from '../src/protocol.js'

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
  /** When they were last active (ms since epoch): a move, a chat, an `active` message, a join. */
  lastActive: number
  /** Connected, and not active for the server's IDLE_AFTER_MS. */
  idle: boolean
}

/** One chat message, as everyone in the space gets it (the server's own type); `text` is plain text, never HTML. */
export type { ChatMessage }

export interface SpaceJoined {
  userId: string
  spawn: Position
  users: PeerEntry[]
  resumed: boolean
  space: SpaceInfo
  /** The space's last messages (50 by default), oldest first. */
  chat: ChatMessage[]
}
export interface UserJoinedSpace { userId: string, username: string, x: number, y: number }
export interface UserMoved { userId: string, x: number, y: number }
export interface MoveRejected { x: number, y: number, reason: RejectReason }
export interface UserDisconnected { userId: string }
export interface UserLeft { userId: string }
export interface Heartbeat { timestamp: number, serverTime: number }
export interface ServerError { code: ErrorCode, message: string, close?: number }
/** A page of older messages, oldest first; `more`: older ones exist still. */
export interface ChatHistory { messages: ChatMessage[], more: boolean }
/** Someone went idle (`idle: true`), or is active again (`false`, before the event of the activity). */
export interface UserIdle { userId: string, idle: boolean, lastActive: number }

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
  'chat-message': ChatMessage
  'chat-history': ChatHistory
  'user-idle': UserIdle
}

export type ServerMessageType = keyof ServerMessages

/** One server message: checking `type` tells the payload's type. */
export type ServerMessage = { [K in ServerMessageType]: { type: K, payload: ServerMessages[K] } }[ServerMessageType]

/**
 * A frame from the server as a ServerMessage, or undefined when it is not one this client knows
 * (another type, or a payload without the fields the protocol promises). Fields beyond those are
 * kept: a newer server may send more.
 */
export function parseServerMessage (data: unknown): ServerMessage | undefined {
  if (typeof data !== 'string') return undefined
  const frame = parseJsonObject(data)
  if (frame === undefined) return undefined
  const { type, payload } = frame
  switch (type) {
    case 'space-joined': return isSpaceJoined(payload) ? { type, payload } : undefined
    case 'user-joined-space': return isUserJoinedSpace(payload) ? { type, payload } : undefined
    case 'user-moved': return isUserMoved(payload) ? { type, payload } : undefined
    case 'move-rejected': return isMoveRejected(payload) ? { type, payload } : undefined
    case 'user-disconnected':
    case 'user-left':
      return hasUserId(payload) ? { type, payload } : undefined
    case 'heartbeat': return isHeartbeat(payload) ? { type, payload } : undefined
    case 'error': return isServerError(payload) ? { type, payload } : undefined
    case 'chat-message': return isChatMessage(payload) ? { type, payload } : undefined
    case 'chat-history': return isChatHistory(payload) ? { type, payload } : undefined
    case 'user-idle': return isUserIdle(payload) ? { type, payload } : undefined
    default: return undefined
  }
}

type Fields = Record<string, unknown>

const isFields = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value)
const isString = (value: unknown): value is string => typeof value === 'string'
const isInteger = (value: unknown): value is number => Number.isInteger(value)
const isOptionalInteger = (value: unknown): value is number | undefined => value === undefined || isInteger(value)
const isOneOf = <T extends string>(table: Record<string, T>, value: unknown): value is T => Object.values<unknown>(table).includes(value)

const isPosition = (value: unknown): value is Position => isFields(value) && isInteger(value.x) && isInteger(value.y)

const hasUserId = (value: unknown): value is { userId: string } => isFields(value) && isString(value.userId)

const isUserMoved = (value: unknown): value is UserMoved => hasUserId(value) && isPosition(value)

const isUserJoinedSpace = (value: unknown): value is UserJoinedSpace => isFields(value) && isUserMoved(value) && isString(value.username)

const isPeerEntry = (value: unknown): value is PeerEntry => isFields(value) && isUserJoinedSpace(value) &&
  typeof value.connected === 'boolean' && Number.isFinite(value.lastActive) && typeof value.idle === 'boolean'

const isChatMessage = (value: unknown): value is ChatMessage => isFields(value) && isString(value.id) &&
  isString(value.userId) && isString(value.username) && isString(value.text) && Number.isFinite(value.sentAt)

const isChatHistory = (value: unknown): value is ChatHistory => isFields(value) &&
  Array.isArray(value.messages) && value.messages.every(isChatMessage) && typeof value.more === 'boolean'

const isUserIdle = (value: unknown): value is UserIdle => isFields(value) && isString(value.userId) &&
  typeof value.idle === 'boolean' && Number.isFinite(value.lastActive)

const isObstacle = (value: unknown): value is Obstacle => isFields(value) && isPosition(value) &&
  isOptionalInteger(value.width) && isOptionalInteger(value.height)

const isSpaceInfo = (value: unknown): value is SpaceInfo => isFields(value) && isString(value.id) &&
  isInteger(value.width) && isInteger(value.height) && Array.isArray(value.obstacles) && value.obstacles.every(isObstacle)

const isSpaceJoined = (value: unknown): value is SpaceJoined => isFields(value) && isString(value.userId) &&
  isPosition(value.spawn) && Array.isArray(value.users) && value.users.every(isPeerEntry) &&
  typeof value.resumed === 'boolean' && isSpaceInfo(value.space) && Array.isArray(value.chat) && value.chat.every(isChatMessage)

const isMoveRejected = (value: unknown): value is MoveRejected => isFields(value) && isPosition(value) &&
  isOneOf(RejectReason, value.reason)

const isHeartbeat = (value: unknown): value is Heartbeat => isFields(value) &&
  Number.isFinite(value.timestamp) && Number.isFinite(value.serverTime)

const isServerError = (value: unknown): value is ServerError => isFields(value) && isOneOf(ErrorCode, value.code) &&
  isString(value.message) && isOptionalInteger(value.close)
