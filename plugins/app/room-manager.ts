import fp from 'fastify-plugin'
import { ClusterBus } from '../../src/cluster-bus.js'
import { redisKeys } from '../../src/keys.js'
import { RedisPresenceStore } from '../../src/presence-store.js'
import { RoomManager } from '../../src/room-manager.js'

declare module 'fastify' {
  interface FastifyInstance {
    roomManager: RoomManager
  }
}

/** The room manager (`fastify.roomManager`) over the Redis presence store and the Pub/Sub bus, and their lifecycle. */
export default fp(async function roomManager (fastify) {
  const { config, redis, log, spaces } = fastify
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
  const rooms = new RoomManager({
    spaces,
    presence,
    cluster,
    serverId: config.serverId,
    log,
    maxStep: config.MAX_STEP,
    maxMovesPerS: config.MAX_MOVES_PER_S,
    maxSpacesPerUser: config.MAX_SPACES_PER_USER,
    // PROTOCOL §5 asks for at least every STALE_USER_MS / 3; a quarter leaves room for a slow flush.
    refreshIntervalMs: Math.max(1, Math.floor(config.STALE_USER_MS / 4))
  })
  cluster.setHandler({
    onSpaceEvents: (spaceId, from, events) => rooms.onSpaceEvents(spaceId, from, events),
    onControl: (_from, event) => rooms.onControl(event)
  })
  await cluster.start()
  // Redis is additive: when it returns (perhaps empty), what this server holds is written back.
  const onReady = (): void => {
    void rooms.persistAll()
    // Write back what only this server held, then read what changed elsewhere while we were away.
    rooms.restoreSpaces().then(() => spaces.loadAll())
      .catch((err: unknown) => log.warn({ err }, 'Could not write space definitions back to Redis'))
  }
  if (config.SPACES_FILE !== undefined) await rooms.announceSpaces()
  redis.on('ready', onReady)
  // Users still here become ghosts (most were dropped already as @fastify/websocket's preClose closed
  // their sockets), and everything is flushed before Redis is let go.
  fastify.addHook('preClose', async () => { rooms.shutdown() })
  fastify.addHook('onClose', async () => {
    redis.off('ready', onReady)
    await cluster.close()
    await rooms.close()
  })
  fastify.decorate('roomManager', rooms)
}, { name: 'room-manager', dependencies: ['config', 'redis', 'spaces'] })
