import fp from 'fastify-plugin'
import { SpaceChat } from '../../src/chat/space-chat.js'
import { ClusterBus } from '../../src/cluster/cluster-bus.js'
import { redisKeys } from '../../src/keys.js'
import { RedisPresenceStore } from '../../src/presence/redis-store.js'
import type { PresenceStore } from '../../src/presence/store.js'
import { RoomManager } from '../../src/rooms/room-manager.js'
import { SpaceAdmin } from '../../src/spaces/space-admin.js'

declare module 'fastify' {
  interface FastifyInstance {
    roomManager: RoomManager
    /** Who-is-where across every server (Redis): the census of the admin and metrics routes. */
    presence: PresenceStore
    spaceAdmin: SpaceAdmin
    /** The spaces' chat history (Redis streams): the admin chat routes read and delete it. */
    chat: SpaceChat
  }
}

/**
 * The room manager (`fastify.roomManager`) over the Redis presence store (`fastify.presence`) and the
 * Pub/Sub bus, the space admin (`fastify.spaceAdmin`), and their lifecycle.
 */
export default fp(async function roomManager (fastify) {
  const { config, redis, log, spaces, analytics } = fastify
  const keys = redisKeys(config.KEY_PREFIX)
  const presence = new RedisPresenceStore({
    redis,
    keys,
    log,
    serverId: config.serverId,
    ttlSeconds: config.USER_STATE_TTL_S,
    flushIntervalMs: config.POSITION_FLUSH_MS
  })
  const subscriber = redis.subscriber
  if (subscriber === undefined) throw new Error('the redis plugin registers no subscriber connection')
  const cluster = new ClusterBus({ publisher: redis, subscriber, keys, serverId: config.serverId, log, subscribeWaitMs: config.REDIS_COMMAND_TIMEOUT_MS })
  const chat = new SpaceChat({
    redis,
    keys,
    log,
    serverId: config.serverId,
    historyOnJoin: config.CHAT_HISTORY_ON_JOIN,
    historyMax: config.CHAT_HISTORY_MAX,
    ttlSeconds: config.CHAT_TTL_S,
    announceRestored: (spaceIds) => { void cluster.publishControl({ kind: 'chat-restored', spaceIds }).catch(() => {}) }
  })
  const rooms = new RoomManager({
    spaces,
    presence,
    cluster,
    chat,
    analytics,
    serverId: config.serverId,
    log,
    maxStep: config.MAX_STEP,
    maxMovesPerS: config.MAX_MOVES_PER_S,
    maxSpacesPerUser: config.MAX_SPACES_PER_USER,
    idleAfterMs: config.IDLE_AFTER_MS,
    // PROTOCOL §5 asks for at least every STALE_USER_MS / 3; a quarter leaves room for a slow flush.
    refreshIntervalMs: Math.max(1, Math.floor(config.STALE_USER_MS / 4))
  })
  const admin = new SpaceAdmin({ spaces, presence, cluster, chat, sessions: analytics, evict: (spaceId) => rooms.evict(spaceId), log })
  cluster.setHandler({
    onSpaceEvents: (spaceId, from, events) => rooms.onSpaceEvents(spaceId, from, events),
    onChat: (spaceId, message, nonce) => chat.received(spaceId, message, nonce),
    onResubscribed: (spaceIds) => { void chat.catchUp(spaceIds) },
    onControl: (_from, event) => admin.onControl(event)
  })
  await cluster.start()
  // Redis is additive: when it returns (perhaps empty), what this server holds is written back.
  const onReady = (): void => {
    void rooms.persistAll()
    void chat.redisReturned()
    // Write back what only this server held, then read what changed elsewhere while we were away.
    admin.restore().then(() => spaces.loadAll())
      .catch((err: unknown) => log.warn({ err }, 'Could not write space definitions back to Redis'))
  }
  if (config.SPACES_FILE !== undefined) await admin.announce()
  redis.on('ready', onReady)
  // Users still here become ghosts (most were dropped already as the drain closed
  // their sockets), and everything is flushed before Redis is let go.
  fastify.addHook('preClose', async () => { rooms.shutdown() })
  fastify.addHook('onClose', async () => {
    redis.off('ready', onReady)
    await chat.close()
    await cluster.close()
    rooms.close()
    await presence.close()
  })
  fastify.decorate('roomManager', rooms)
  fastify.decorate('presence', presence)
  fastify.decorate('spaceAdmin', admin)
  fastify.decorate('chat', chat)
}, { name: 'room-manager', dependencies: ['config', 'redis', 'spaces', 'analytics'] })
