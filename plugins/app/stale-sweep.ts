import fp from 'fastify-plugin'
import { AsyncTask, SimpleIntervalJob } from 'toad-scheduler'
import { redisKeys } from '../../src/keys.js'
import { StaleSweeper } from '../../src/presence/stale-sweeper.js'

/**
 * The stale sweep (PROTOCOL §5) every CLEANUP_INTERVAL_MS: ghosts older than STALE_USER_MS leave
 * Redis and this server's users are told. Safe on many servers at once (the removal is atomic);
 * a failed run is logged and counted, and the next one runs as usual.
 */
export default fp(async function staleSweep (fastify) {
  const { config, redis, log, roomManager, metrics } = fastify
  const sweeper = new StaleSweeper({ redis, keys: redisKeys(config.KEY_PREFIX), log, staleAfterMs: config.STALE_USER_MS })
  const task = new AsyncTask('stale-sweep', async () => {
    if (redis.status !== 'ready') return
    const stopTimer = metrics.cleanupDuration.startTimer()
    try {
      roomManager.applySwept(await sweeper.sweep())
    } finally {
      stopTimer()
    }
  }, (err) => {
    metrics.cleanupFailures.inc()
    log.error({ err }, '🧹 [REDIS CLEANUP] Stale sweep failed; the next run goes on as scheduled')
  })
  fastify.scheduler.addSimpleIntervalJob(new SimpleIntervalJob(
    { milliseconds: config.CLEANUP_INTERVAL_MS },
    task,
    { id: 'stale-sweep', preventOverrun: true }
  ))
}, { name: 'stale-sweep', dependencies: ['config', 'redis', 'schedule', 'room-manager', 'metrics'] })
