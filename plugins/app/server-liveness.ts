import fp from 'fastify-plugin'
import { AsyncTask, SimpleIntervalJob } from 'toad-scheduler'
import { redisKeys } from '../../src/keys.js'
import { ServerLiveness } from '../../src/cluster/server-liveness.js'

/**
 * Servers watching each other through Redis: each beats every SERVER_HEARTBEAT_MS; a server whose
 * beat is older than SERVER_DEAD_AFTER_MS died without a word, and the first server to notice turns
 * its connected users into ghosts and tells everyone (well before the stale sweep would).
 */
export default fp(async function serverLiveness (fastify) {
  const { config, redis, log, roomManager, spaceAdmin } = fastify
  const liveness = new ServerLiveness({ redis, keys: redisKeys(config.KEY_PREFIX), serverId: config.serverId, deadAfterMs: config.SERVER_DEAD_AFTER_MS })
  // A server that just (re)connected to Redis reaps nobody yet: after an outage everyone's beat is
  // old, and the others need one interval to beat again.
  let connectedAt = Date.now()
  const onReady = (): void => { connectedAt = Date.now() }
  redis.on('ready', onReady)
  let beaten = false
  let unanswered = false
  const task = new AsyncTask('server-liveness', async () => {
    if (redis.status !== 'ready') return
    if (!beaten) {
      const previous = await liveness.reapPreviousLife()
      if (previous.length > 0) {
        log.warn({ serverId: config.serverId, users: previous.length }, 'A previous run under this SERVER_ID left users marked connected; they are ghosts now')
        roomManager.applyDeadServerUsers(previous)
      }
    }
    if (await liveness.heartbeat() && beaten) {
      // Our beat was gone: Redis was flushed or restarted empty, or another server took us for dead
      // and ghosted our users. Either way what this server holds is written back (Redis is additive).
      log.warn({ serverId: config.serverId }, 'Redis had lost this server (flushed, restarted empty, or we were given up for dead); writing its users and spaces back')
      roomManager.reclaim()
      await spaceAdmin.restore()
    }
    beaten = true
    if (unanswered) {
      log.info({}, '✅ Redis answers again')
      unanswered = false
      // Nobody could beat while it hung: give the others an interval before judging them.
      connectedAt = Date.now()
    }
    if (Date.now() - connectedAt < config.SERVER_DEAD_AFTER_MS) return
    const reaped = await liveness.reapDead()
    if (reaped.length === 0) return
    for (const serverId of new Set(reaped.map((r) => r.serverId))) {
      log.warn({ serverId }, `💀 [CLUSTER] Server ${serverId} stopped beating; its users are ghosts now`)
    }
    roomManager.applyDeadServerUsers(reaped)
  }, (err) => {
    // A hung Redis raises no connection error: this check is where it shows, once until it answers.
    if (!unanswered) log.error({ err }, `❌ Redis does not answer (${err.message}); serving from memory`)
    unanswered = true
  })
  fastify.scheduler.addSimpleIntervalJob(new SimpleIntervalJob(
    { milliseconds: config.SERVER_HEARTBEAT_MS, runImmediately: true },
    task,
    { id: 'server-liveness', preventOverrun: true }
  ))
  // Leaving cleanly: out of the live set once our users were written as ghosts (room manager's onClose).
  fastify.addHook('onClose', async () => {
    redis.off('ready', onReady)
    fastify.scheduler.removeById('server-liveness')
    if (redis.status === 'ready') await liveness.retire().catch(() => {})
  })
}, { name: 'server-liveness', dependencies: ['config', 'redis', 'schedule', 'room-manager'] })
