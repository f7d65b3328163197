import { Type } from 'typebox'

/**
 * What the HTTP API answers, for the OpenAPI document (/docs) and for serializing replies. Objects
 * keep properties not listed here (additionalProperties), so that a field added to a reply is never
 * dropped by its schema.
 */
const open = { additionalProperties: true }

export const ErrorReply = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String()
}, { ...open, description: 'Fastify\'s error shape' })

export const SpaceReply = Type.Object({
  id: Type.String(),
  width: Type.Integer(),
  height: Type.Integer(),
  obstacles: Type.Array(Type.Object({ x: Type.Integer(), y: Type.Integer(), width: Type.Integer(), height: Type.Integer() }))
}, open)

export const ChatMessageReply = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  username: Type.String(),
  text: Type.String(),
  sentAt: Type.Integer({ description: 'ms since epoch, the accepting server\'s clock' })
}, open)

export const ChatHistoryReply = Type.Object({ messages: Type.Array(ChatMessageReply, { description: 'oldest first' }) }, open)

export const SpaceListReply = Type.Object({ spaces: Type.Array(SpaceReply) }, open)

export const SpaceUsersReply = Type.Object({
  spaceId: Type.String(),
  users: Type.Array(Type.Object({
    userId: Type.String(),
    username: Type.String(),
    x: Type.Integer(),
    y: Type.Integer(),
    connected: Type.Boolean({ description: 'false for a ghost: dropped, waiting to resume' }),
    lastActive: Type.Number({ description: 'ms since epoch of the user\'s last activity' }),
    idle: Type.Boolean({ description: 'no activity for IDLE_AFTER_MS' })
  }, open))
}, { ...open, description: 'Everyone Redis holds in the space, across servers, by name' })

export const HealthReply = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy')]),
  latency: Type.Union([Type.Number(), Type.Null()], { description: 'Redis round trip in ms; null when Redis did not answer in time' }),
  redis: Type.String(),
  serverId: Type.String(),
  uptime: Type.Integer(),
  users: Type.Integer(),
  spaces: Type.Integer(),
  faults: Type.Array(Type.Object({
    key: Type.String(),
    expected: Type.String(),
    spaceId: Type.Optional(Type.String()),
    error: Type.String(),
    since: Type.Number(),
    count: Type.Integer()
  }, open), { description: 'Redis keys that hold another writer\'s data; their spaces are not written' })
}, open)

const SpaceCount = Type.Object({ spaceId: Type.String(), userCount: Type.Integer() }, open)

export const StatsReply = Type.Object({
  totalSpaces: Type.Integer(),
  totalUsers: Type.Integer(),
  spacesWithUsers: Type.Array(SpaceCount),
  serverId: Type.String(),
  cluster: Type.Union([Type.Object({
    totalUsers: Type.Integer(),
    connectedUsers: Type.Integer(),
    ghostUsers: Type.Integer(),
    spacesWithUsers: Type.Array(Type.Object({ spaceId: Type.String(), userCount: Type.Integer(), ghostCount: Type.Integer() }, open))
  }, open), Type.Null()], { description: 'What Redis knows across servers; null when Redis does not answer' })
}, { ...open, description: 'JSON, or the Prometheus exposition when Accept prefers text/plain or application/openmetrics-text' })

/** The admin routes' security requirement and tag, for the OpenAPI document. */
export const ADMIN = { tags: ['admin'], security: [{ admin: [] }] }

const AnalyticsDay = Type.Object({
  date: Type.String({ description: 'YYYY-MM-DD, UTC' }),
  visits: Type.Integer({ description: 'sessions started' }),
  uniqueUsers: Type.Integer({ description: 'distinct users who started or resumed a session (approximate beyond 1,000)' }),
  peakUsers: Type.Integer({ description: 'most distinct users connected at once, across servers' }),
  sessions: Type.Integer({ description: 'sessions ended' }),
  avgSessionMs: Type.Union([Type.Integer(), Type.Null()], { description: 'mean duration of the sessions ended; null when none' }),
  chatMessages: Type.Integer()
}, open)

export const AnalyticsReply = Type.Object({
  spaceId: Type.String(),
  now: Type.Object({
    users: Type.Integer({ description: 'connected, on any server' }),
    ghosts: Type.Integer({ description: 'disconnected, not yet swept' })
  }, open),
  days: Type.Array(AnalyticsDay, { description: 'newest first, one per UTC day' })
}, open)
