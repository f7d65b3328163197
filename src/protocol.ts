/**
 * The wire contract (shared/PROTOCOL.md) in one place: names, close codes, error codes, and the
 * parser for what clients send. Clients we will never see rely on every string here.
 */

export const DIALECTS = ['plaza.v1', 'metaverse'] as const
export type Dialect = typeof DIALECTS[number]

export const CloseCode = {
  GoingAway: 1001,
  ProtocolViolation: 1008,
  TooLarge: 1009,
  BadToken: 4001,
  UnknownSpace: 4004,
  Replaced: 4009,
  TooManyMessages: 4029
} as const
export type CloseCode = typeof CloseCode[keyof typeof CloseCode]

export const ErrorCode = {
  BadToken: 'bad-token',
  UnknownSpace: 'unknown-space',
  Replaced: 'replaced',
  RateLimited: 'rate-limited',
  NotJoined: 'not-joined',
  AlreadyJoined: 'already-joined',
  InvalidMessage: 'invalid-message',
  UnknownType: 'unknown-type',
  TooLarge: 'too-large'
} as const
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

/** Why a move was refused, in the order of precedence of PROTOCOL §3.1. */
export const RejectReason = {
  OutOfBounds: 'out-of-bounds',
  NotAdjacent: 'not-adjacent',
  Blocked: 'blocked',
  RateLimited: 'rate-limited'
} as const
export type RejectReason = typeof RejectReason[keyof typeof RejectReason]

export const ClientType = {
  Join: 'join',
  Move: 'move',
  Leave: 'leave',
  Heartbeat: 'heartbeat',
  HeartbeatResponse: 'heartbeat-response',
  Chat: 'chat',
  ChatHistory: 'chat-history',
  Active: 'active'
} as const

/** A chat-history page's size when the client asks for none, and its bounds (PROTOCOL §9). */
export const CHAT_PAGE = { default: 50, min: 1, max: 100 } as const

export type ClientMessage =
  | { type: 'join', spaceId: string, token: unknown }
  | { type: 'move', x: number, y: number }
  | { type: 'leave' }
  | { type: 'heartbeat', timestamp: number }
  | { type: 'heartbeat-response' }
  /** `text` as it arrived (a string): cleaned and measured by cleanChatText, against the server's limit. */
  | { type: 'chat', text: string }
  | { type: 'chat-history', before: string | undefined, limit: number }
  | { type: 'active' }

export type ParseResult =
  | { ok: true, message: ClientMessage }
  | { ok: false, code: typeof ErrorCode.InvalidMessage | typeof ErrorCode.UnknownType, message: string }

const invalid = (message: string): ParseResult => ({ ok: false, code: ErrorCode.InvalidMessage, message })

/**
 * Turns one text frame into a client message, or says precisely what is wrong with it.
 * Only the fields named by the protocol are read; anything else a client sends is ignored.
 */
export function parseClientMessage (text: string): ParseResult {
  let frame: unknown
  try {
    frame = JSON.parse(text)
  } catch {
    return invalid('frame is not valid JSON')
  }
  if (!isObject(frame)) return invalid('frame must be a JSON object {"type", "payload"}')
  const { type } = frame
  if (typeof type !== 'string') return invalid('"type" must be a string')
  // Its payload is "any" (PROTOCOL §2): accepted and ignored, whatever it is.
  if (type === ClientType.HeartbeatResponse) return { ok: true, message: { type } }
  const payload = frame.payload ?? {}
  if (!isObject(payload)) return invalid('"payload" must be an object')

  switch (type) {
    case ClientType.Join: {
      const { spaceId, token } = payload
      if (typeof spaceId !== 'string') return invalid('join needs payload.spaceId as a string')
      return { ok: true, message: { type, spaceId, token } }
    }
    case ClientType.Move: {
      const { x, y } = payload
      if (!Number.isSafeInteger(x) || !Number.isSafeInteger(y)) {
        return invalid('move needs integer payload.x and payload.y')
      }
      return { ok: true, message: { type, x: x as number, y: y as number } }
    }
    case ClientType.Leave:
      return { ok: true, message: { type } }
    case ClientType.Heartbeat: {
      const { timestamp } = payload
      return { ok: true, message: { type, timestamp: typeof timestamp === 'number' && Number.isFinite(timestamp) ? timestamp : 0 } }
    }
    case ClientType.Chat: {
      const { text } = payload
      if (typeof text !== 'string') return invalid('chat needs payload.text as a string')
      return { ok: true, message: { type, text } }
    }
    case ClientType.ChatHistory: {
      const { before, limit } = payload
      if (before !== undefined && typeof before !== 'string') return invalid('chat-history takes payload.before as a message id (a string)')
      if (limit !== undefined && typeof limit !== 'number') return invalid('chat-history takes payload.limit as a number')
      const asked = typeof limit === 'number' && Number.isFinite(limit) ? Math.trunc(limit) : CHAT_PAGE.default
      return { ok: true, message: { type, before, limit: Math.min(CHAT_PAGE.max, Math.max(CHAT_PAGE.min, asked)) } }
    }
    case ClientType.Active:
      return { ok: true, message: { type } }
    default:
      return { ok: false, code: ErrorCode.UnknownType, message: `unknown message type ${JSON.stringify(type.slice(0, 64))}` }
  }
}

// Unicode Cc: C0 controls, DEL and C1 controls; \t and \n stay (PROTOCOL §9).
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it matches
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g
const LONE_SURROGATE = /\p{Cs}/u

/**
 * A chat text as PROTOCOL §9 keeps it: control characters but \n and \t removed, then trimmed;
 * undefined when nothing is left, more than `maxChars` code points are, or a lone surrogate is
 * among them (not text). Nothing else is touched:
 * markup stays as it was sent (clients render text, never HTML).
 */
export function cleanChatText (text: string, maxChars: number): string | undefined {
  const cleaned = text.replace(CONTROL, '').trim()
  // A lone surrogate is no character: Redis would store it as U+FFFD, and history would differ from what was said.
  if (cleaned === '' || LONE_SURROGATE.test(cleaned)) return undefined
  // Code points, not UTF-16 units: an emoji counts once.
  let count = 0
  for (const _ of cleaned) if (++count > maxChars) return undefined
  return cleaned
}

/**
 * JSON text that holds an object (or an array), as the fields it has; undefined for anything else,
 * malformed JSON included. For what other writers left in Redis, and what a server sends a client.
 */
export function parseJsonObject (text: string): Record<string, unknown> | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  return typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A client's offered subprotocols, in the order offered. */
export function offeredProtocols (header: string | string[] | undefined): string[] {
  const joined = Array.isArray(header) ? header.join(',') : header ?? ''
  return joined.split(',').map((p) => p.trim()).filter((p) => p !== '')
}

/** The first dialect the client offered that we speak; undefined when it offered none we know. */
export function pickDialect (offered: Iterable<string>): Dialect | undefined {
  for (const protocol of offered) {
    if ((DIALECTS as readonly string[]).includes(protocol)) return protocol as Dialect
  }
  return undefined
}
