import { once } from 'node:events'
import { Redis } from 'ioredis'
import t from 'tap'
import type { Test } from 'tap'
import { EXACT_UNIQUES, SpaceAnalytics, utcDate } from '../src/analytics/space-analytics.js'
import { loadConfig } from '../src/config.js'
import { redisKeys } from '../src/keys.js'
import { silentLogger } from '../src/logger.js'
import { definePlazaScripts } from '../src/scripts/index.js'
import { ADMIN_TOKEN, isolate, settle, startApp } from './helpers/app.js'
import { sampleValue, scrape } from './helpers/metrics.js'
import { PrivateRedis } from './helpers/private-redis.js'

/** Space analytics (PROTOCOL §11): the recorder against a real Redis, the admin route, the metrics. */

const DAY = 86_400_000
const HOUR = 3_600_000
/** Today's UTC midnight: recorded days stay within the retention, so Redis keeps them. */
const TODAY = Date.parse(utcDate(Date.now()))
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` }

/** A recorder on a client of its own, with the test's prefix; closed when the test ends. */
function recorder (t: Test, redis: Redis, prefix: string, retentionDays = 90): SpaceAnalytics {
  const analytics = new SpaceAnalytics({ redis: definePlazaScripts(redis), keys: redisKeys(prefix), log: silentLogger, retentionDays })
  t.teardown(() => analytics.close())
  return analytics
}

/** Another connection to the shared test Redis, ready, and disconnected when the test ends. */
async function client (t: Test): Promise<Redis> {
  const redis = new Redis('redis://127.0.0.1:6379')
  t.teardown(() => { redis.disconnect() })
  await once(redis, 'ready')
  return redis
}

const zeros = (date: string) => ({ date, visits: 0, uniqueUsers: 0, peakUsers: 0, sessions: 0, avgSessionMs: null, chatMessages: 0 })

t.test('visits, unique users, sessions, their mean and chat are counted on the UTC day they happened', async (t) => {
  const { prefix, redis } = isolate(t)
  const analytics = recorder(t, await client(t), prefix)
  const day0 = TODAY - 2 * DAY
  const day1 = TODAY - DAY
  analytics.sessionStarted('hall', 'alice', day1 - 1000) // 23:59:59 on day 0
  analytics.sessionStarted('hall', 'bob', day1 + 1000) // 00:00:01 on day 1
  analytics.sessionResumed('hall', 'alice', day1 + 2 * HOUR) // alice back on day 1: unique, no visit
  analytics.sessionStarted('hall', 'carol', day1 + 3 * HOUR)
  analytics.sessionStarted('hall', 'carol', day1 + 5 * HOUR) // a second visit, the same user
  analytics.sessionEnded('hall', day1 - 1000, day1 + 10 * 60_000) // alice's, ended on day 1
  analytics.sessionEnded('hall', day1 + 3 * HOUR, day1 + 4 * HOUR)
  analytics.chatCounted('hall', day0 + 5 * HOUR)
  analytics.chatCounted('hall', day1 + 6 * HOUR)
  analytics.chatCounted('hall', day1 + 7 * HOUR)
  analytics.sessionStarted('annex', 'dave', day1) // another space stays apart
  t.ok(await analytics.flush())

  const days = await analytics.read('hall', 4, TODAY + 12 * HOUR)
  t.same(days, [
    zeros(utcDate(TODAY)),
    { date: utcDate(day1), visits: 3, uniqueUsers: 3, peakUsers: 0, sessions: 2, avgSessionMs: (601_000 + HOUR) / 2, chatMessages: 2 },
    { date: utcDate(day0), visits: 1, uniqueUsers: 1, peakUsers: 0, sessions: 0, avgSessionMs: null, chatMessages: 1 },
    zeros(utcDate(day0 - DAY))
  ], 'newest first, contiguous days, zeros where nothing happened')
  t.same((await analytics.read('annex', 2, day1))[0], { ...zeros(utcDate(day1)), visits: 1, uniqueUsers: 1 })
  t.same(await redis.hgetall(`${prefix}space:hall:analytics:${utcDate(day1)}`),
    { visits: '3', sessions: '2', sessionMs: String(601_000 + HOUR), chatMessages: '2' }, 'the layout of docs/operations.md')
})

t.test('the calls of one turn are written in one pipeline, on the next turn, without a call waiting on Redis', async (t) => {
  const { prefix } = isolate(t)
  const redis = await client(t)
  const analytics = recorder(t, redis, prefix)
  let pipelines = 0
  const pipeline = redis.pipeline.bind(redis)
  redis.pipeline = ((...args: Parameters<typeof pipeline>) => {
    pipelines++
    return pipeline(...args)
  }) as typeof redis.pipeline
  const key = `${prefix}space:hall:analytics:${utcDate(TODAY)}`
  for (let i = 0; i < 500; i++) {
    analytics.sessionStarted('hall', `user-${i}`, TODAY + i)
    analytics.occupancyChanged('hall')
  }
  t.equal(pipelines, 0, 'nothing is sent while the turn runs')
  const written = await settle(() => redis.hget(key, 'visits'), (v) => v === '500')
  t.equal(written, '500', 'written without anyone asking for a flush')
  t.equal(pipelines, 1, 'a join storm of one turn is one pipeline')
})

t.test('unique users are exact up to 1,000, then approximate within 2% in a HyperLogLog', async (t) => {
  const { prefix, redis } = isolate(t)
  const analytics = recorder(t, await client(t), prefix)
  const date = utcDate(TODAY)
  const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `user-${from + i}`)
  const uniques = async () => (await analytics.read('hall', 1, TODAY))[0]?.uniqueUsers

  for (const id of ids(0, 999)) analytics.sessionStarted('hall', id, TODAY)
  for (const id of ids(0, 500)) analytics.sessionResumed('hall', id, TODAY + HOUR)
  t.ok(await analytics.flush())
  t.equal(await uniques(), 999)
  analytics.sessionResumed('hall', 'user-999', TODAY + HOUR)
  await analytics.flush()
  t.equal(await uniques(), EXACT_UNIQUES, 'exactly 1,000')
  t.equal(await redis.scard(`${prefix}space:hall:uniques:${date}`), 1000, 'still a set')
  t.equal(await redis.exists(`${prefix}space:hall:uniques-hll:${date}`), 0)

  // Over the limit in later flushes: the set's members move into the HyperLogLog.
  for (const id of ids(0, 3000)) analytics.sessionStarted('hall', id, TODAY + 2 * HOUR)
  await analytics.flush()
  for (const id of ids(2500, 2500)) analytics.sessionResumed('hall', id, TODAY + 3 * HOUR)
  await analytics.flush()
  const approximate = await uniques() ?? 0
  t.ok(Math.abs(approximate - 5000) <= 100, `5,000 distinct users counted as ${approximate}`)
  t.equal(await redis.exists(`${prefix}space:hall:uniques:${date}`), 0, 'the set is gone')
  t.equal(await redis.type(`${prefix}space:hall:uniques-hll:${date}`), 'string', 'a HyperLogLog')
})

t.test('the peak is the most users in the space\'s owners hash at an admission, that day', async (t) => {
  const { prefix, redis } = isolate(t)
  const analytics = recorder(t, await client(t), prefix)
  const owners = `${prefix}space:hall:owners`
  const peak = async () => (await analytics.read('hall', 1))[0]?.peakUsers
  await redis.hset(owners, { alice: 's1', bob: 's2', carol: 's1' })
  analytics.occupancyChanged('hall')
  await analytics.flush()
  t.equal(await peak(), 3, 'users on every server')
  await redis.hdel(owners, 'alice', 'bob')
  analytics.occupancyChanged('hall')
  await analytics.flush()
  t.equal(await peak(), 1 + 2, 'fewer users later leave the peak where it was')
  await redis.hset(owners, { dave: 's2', erin: 's2', frank: 's1', grace: 's1' })
  analytics.occupancyChanged('hall')
  await analytics.flush()
  t.equal(await peak(), 5)
})

t.test('every key expires at the end of its day plus the retention', async (t) => {
  const { prefix, redis } = isolate(t)
  const retentionDays = 3
  const analytics = recorder(t, await client(t), prefix, retentionDays)
  const day = TODAY - DAY
  analytics.sessionStarted('hall', 'alice', day + HOUR)
  analytics.sessionStarted('big', 'alice', day + HOUR)
  for (let i = 0; i <= EXACT_UNIQUES; i++) analytics.sessionResumed('big', `user-${i}`, day + HOUR)
  await analytics.flush()
  const expected = (day + (1 + retentionDays) * DAY) / 1000
  const date = utcDate(day)
  for (const key of [`space:hall:analytics:${date}`, `space:hall:uniques:${date}`, `space:big:uniques-hll:${date}`]) {
    t.equal(await redis.call('EXPIRETIME', `${prefix}${key}`), expected, key)
  }
})

t.test('while Redis is away the counts are kept, and written once when it is back', async (t) => {
  const server = await PrivateRedis.start(t)
  const redis = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50 })
  redis.on('error', () => { /* the test stops this server on purpose */ })
  t.teardown(() => { redis.disconnect() })
  const prefix = 'analytics:'
  const analytics = recorder(t, redis, prefix)
  await settle(() => redis.status, (s) => s === 'ready')
  analytics.sessionStarted('hall', 'alice', TODAY)
  t.ok(await analytics.flush())

  await server.stop('SIGKILL')
  await settle(() => redis.status, (s) => s !== 'ready')
  analytics.sessionStarted('hall', 'bob', TODAY + HOUR)
  analytics.sessionStarted('hall', 'carol', TODAY + HOUR)
  analytics.sessionEnded('hall', TODAY, TODAY + 2 * HOUR)
  analytics.chatCounted('hall', TODAY + HOUR)
  t.equal(await analytics.flush(), false, 'not written while Redis is away')
  analytics.sessionResumed('hall', 'bob', TODAY + 3 * HOUR)
  analytics.chatCounted('hall', TODAY + 3 * HOUR)

  // Back, empty: what this server counted meanwhile is written by the retry, without a call.
  await server.start()
  const expected = { ...zeros(utcDate(TODAY)), visits: 2, uniqueUsers: 2, sessions: 1, avgSessionMs: 2 * HOUR, chatMessages: 2 }
  const read = () => analytics.read('hall', 1, TODAY).then(([day]) => day).catch(() => undefined)
  t.same(await settle(read, (day) => day?.visits === 2, 5000), expected, 'kept, merged, and written')
  t.ok(await analytics.flush())
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.same(await read(), expected, 'written once')
})

t.test('two servers\' recorders add up in the same day', async (t) => {
  const { prefix } = isolate(t)
  const one = recorder(t, await client(t), prefix)
  const two = recorder(t, await client(t), prefix)
  for (const [analytics, users] of [[one, ['alice', 'bob']], [two, ['bob', 'carol', 'dave']]] as const) {
    for (const user of users) analytics.sessionStarted('hall', user, TODAY + HOUR)
    analytics.sessionEnded('hall', TODAY, TODAY + HOUR)
    analytics.chatCounted('hall', TODAY + HOUR)
  }
  await Promise.all([one.flush(), two.flush()])
  t.same(await one.read('hall', 1, TODAY), [{ ...zeros(utcDate(TODAY)), visits: 5, uniqueUsers: 4, sessions: 2, avgSessionMs: HOUR, chatMessages: 2 }])
})

t.test('GET /admin/spaces/:spaceId/analytics', async (t) => {
  const plaza = await startApp(t, { API_DOCS: 'true' })
  await plaza.defineSpace({ id: 'hall' })
  const get = async (path: string, headers: Record<string, string> = AUTH) => {
    const reply = await fetch(`${plaza.httpBase}${path}`, { headers })
    return { status: reply.status, body: await reply.json() as Record<string, unknown> }
  }

  t.test('days out of range, or not a number, answer 400', async (t) => {
    for (const days of ['0', '91', 'abc', '2.5', '-1']) {
      const { status, body } = await get(`/admin/spaces/hall/analytics?days=${days}`)
      t.equal(status, 400, `days=${days}`)
      t.match(body, { statusCode: 400, error: 'Bad Request', message: String })
    }
  })

  t.test('an unknown space answers 404, and no admin token 401', async (t) => {
    t.match(await get('/admin/spaces/nowhere/analytics'), { status: 404, body: { statusCode: 404, message: 'no space nowhere' } })
    t.equal((await get('/admin/spaces/hall/analytics', {})).status, 401)
    t.equal((await get('/admin/spaces/hall/analytics', { authorization: 'Bearer wrong' })).status, 401)
  })

  t.test('seven UTC days by default, newest first, zeros where nothing happened', async (t) => {
    const { status, body } = await get('/admin/spaces/hall/analytics')
    t.equal(status, 200)
    const today = Date.parse(utcDate(Date.now()))
    t.same(body, {
      spaceId: 'hall',
      now: { users: 0, ghosts: 0 },
      days: Array.from({ length: 7 }, (_, i) => zeros(utcDate(today - i * DAY)))
    })
    t.equal(((await get('/admin/spaces/hall/analytics?days=90')).body.days as unknown[]).length, 90)
  })

  t.test('what the recorder counted, this server\'s pending counts included, and who is there now', async (t) => {
    const now = Date.now()
    const entry = (connected?: boolean) => JSON.stringify({ username: 'u', x: 1, y: 1, connectionId: 'c', lastUpdated: now, ...(connected === undefined ? {} : { connected }) })
    await plaza.redis.hset(`${plaza.prefix}space:hall:users`, { alice: entry(true), bob: entry(false), carol: entry(), broken: 'not json' })
    await plaza.redis.hset(`${plaza.prefix}space:hall:owners`, { alice: 's1', carol: 's2' })
    const { analytics } = plaza.app
    analytics.sessionStarted('hall', 'alice', now)
    analytics.sessionStarted('hall', 'bob', now)
    analytics.sessionResumed('hall', 'carol', now)
    analytics.occupancyChanged('hall')
    analytics.sessionEnded('hall', now - 90_000, now)
    analytics.chatCounted('hall', now)
    const { status, body } = await get('/admin/spaces/hall/analytics?days=2')
    t.equal(status, 200)
    t.same(body, {
      spaceId: 'hall',
      now: { users: 2, ghosts: 1 },
      days: [
        { date: utcDate(now), visits: 2, uniqueUsers: 3, peakUsers: 2, sessions: 1, avgSessionMs: 90_000, chatMessages: 1 },
        zeros(utcDate(now - DAY))
      ]
    }, 'an entry without `connected` counts as connected; one that cannot be read is left out')
  })

  t.test('the route is in the OpenAPI document', async (t) => {
    const doc = (await get('/docs/json')).body as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }
    t.same(Object.keys(doc.paths['/admin/spaces/{spaceId}/analytics']?.get?.responses ?? {}).sort(), ['200', '400', '404', '503'])
  })
})

t.test('sessions that end here are counted on /metrics by space, within METRICS_MAX_SPACES', async (t) => {
  const plaza = await startApp(t, { METRICS_MAX_SPACES: 1 })
  const now = Date.now()
  const { analytics } = plaza.app
  analytics.sessionEnded('hall', now - 90_000, now)
  analytics.sessionEnded('hall', now - 5000, now)
  analytics.sessionEnded('annex', now - 4 * HOUR, now)
  const metrics = await scrape(plaza.httpBase)
  t.same(metrics.errors, [])
  t.equal(metrics.types.get('plaza_sessions_total'), 'counter')
  t.equal(metrics.types.get('plaza_session_duration_seconds'), 'histogram')
  t.equal(sampleValue(metrics, 'plaza_sessions_total', { space: 'hall' }), 2)
  t.equal(sampleValue(metrics, 'plaza_sessions_total', { space: '(other)' }), 1, 'spaces beyond the limit are summed')
  t.equal(sampleValue(metrics, 'plaza_session_duration_seconds_count', { space: 'hall' }), 2)
  t.equal(sampleValue(metrics, 'plaza_session_duration_seconds_sum', { space: 'hall' }), 95)
  t.equal(sampleValue(metrics, 'plaza_session_duration_seconds_bucket', { space: 'hall', le: '10' }), 1)
  t.equal(sampleValue(metrics, 'plaza_session_duration_seconds_bucket', { space: 'hall', le: '60' }), 1)
  t.equal(sampleValue(metrics, 'plaza_session_duration_seconds_bucket', { space: 'hall', le: '300' }), 2)
  t.equal(sampleValue(metrics, 'plaza_session_duration_seconds_bucket', { space: '(other)', le: '7200' }), 0)
  t.equal(sampleValue(metrics, 'plaza_session_duration_seconds_bucket', { space: '(other)', le: '14400' }), 1)
})

t.test('ANALYTICS_RETENTION_DAYS is 90 days unless set, a whole number of at least 1', async (t) => {
  const env = { JWT_SECRET: 'secret', ADMIN_TOKEN: 'admin' }
  t.equal(loadConfig(env).ANALYTICS_RETENTION_DAYS, 90)
  t.equal(loadConfig({ ...env, ANALYTICS_RETENTION_DAYS: '7' }).ANALYTICS_RETENTION_DAYS, 7)
  for (const bad of ['0', '1.5', 'week']) t.throws(() => loadConfig({ ...env, ANALYTICS_RETENTION_DAYS: bad }), /ANALYTICS_RETENTION_DAYS/, bad)
})
