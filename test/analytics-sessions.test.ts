import t from 'tap'
import { utcDate } from '../src/analytics/space-analytics.js'
import { ADMIN_TOKEN, settle, startApp, testEnv } from './helpers/app.js'
import { TestClient } from './helpers/client.js'
import { ADMIN, connect, defineSpace, startCluster, token } from './helpers/cluster.js'
import { sampleValue, scrape } from './helpers/metrics.js'
import { startServer } from './helpers/process.js'

/**
 * Space analytics from real sessions (PROTOCOL §11): users joining, dropping, coming back, taking
 * over, chatting and leaving on two servers; the figures across servers and past a restart; the
 * sessions the stale sweep and a space's deletion end.
 */

interface Day { date: string, visits: number, uniqueUsers: number, peakUsers: number, sessions: number, avgSessionMs: number | null, chatMessages: number }
interface Analytics { spaceId: string, now: { users: number, ghosts: number }, days: Day[] }

async function analytics (http: string, spaceId: string, days = 1): Promise<Analytics> {
  const reply = await fetch(`${http}/admin/spaces/${spaceId}/analytics?days=${days}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  return await reply.json() as Analytics
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Reads until `done`, at most every 250 ms: admin routes are rate-limited (120 a minute). */
async function poll<T> (read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() > deadline) return value
    await sleep(250)
  }
}

t.test('two servers: a drop and a resume are one session, a take-over counts once, figures add up across servers and restarts', async (t) => {
  const { servers: [s1, s2], shared } = await startCluster(t, 2, { SERVER_HEARTBEAT_MS: 2000, SERVER_DEAD_AFTER_MS: 6000 })
  t.equal(await defineSpace(s1, 'office', { width: 20, height: 20 }), 201)
  const today = utcDate(Date.now())

  const alice = await connect(t, s1)
  const started = Date.now()
  await alice.join('office', token('alice'))
  const bob = await connect(t, s2)
  await bob.join('office', token('bob'))
  // Alice's connection drops; she comes back on the other server: the same session.
  await alice.close()
  const back = await connect(t, s2)
  t.equal((await back.join('office', token('alice'))).resumed, true)
  // A second tab on the first server takes her avatar over: still one user, one session.
  const tab = await connect(t, s1)
  t.equal((await tab.join('office', token('alice'))).resumed, true)
  for (const text of ['one', 'two', 'three']) tab.send({ type: 'chat', payload: { text } })
  for (let i = 0; i < 3; i++) await bob.waitFor('chat-message')
  await sleep(300)
  tab.send({ type: 'leave', payload: {} })
  const aliceLeft = Date.now()
  await bob.waitFor('user-left')
  bob.send({ type: 'leave', payload: {} })
  const bobLeft = Date.now()

  const expected = { date: today, visits: 2, uniqueUsers: 2, peakUsers: 2, sessions: 2, chatMessages: 3 }
  const read = await poll(() => analytics(s2.http, 'office'), (a) => a.days[0]?.sessions === 2 && a.days[0].chatMessages === 3, 5000)
  t.match(read, { spaceId: 'office', now: { users: 0, ghosts: 0 }, days: [expected] }, 'read on either server: the whole deployment\'s figures')
  const avg = read.days[0]?.avgSessionMs ?? 0
  const longest = ((aliceLeft - started) + (bobLeft - started)) / 2
  t.ok(avg >= 300 && avg <= longest + 100, `the mean session (${avg} ms) runs from the fresh join to the leave, through the drop`)
  t.match(await analytics(s1.http, 'office'), { days: [expected] }, 'the other server answers the same')

  // Gone from memory everywhere: a server started now reads the same figures from Redis.
  const s3 = await startServer(t, testEnv(shared.prefix, { SERVER_ID: 'server-3' }))
  t.match(await analytics(s3.http, 'office'), { days: [expected] }, 'figures survive the servers that counted them')
  const week = await analytics(s3.http, 'office', 7)
  t.equal(week.days.length, 7)
  t.match(week.days[1], { visits: 0, sessions: 0, avgSessionMs: null }, 'yesterday: zeros')
  t.equal((await fetch(`${s3.http}/admin/spaces/office/analytics?days=91`, { headers: ADMIN })).status, 400)
})

t.test('the stale sweep and a deleted space end sessions, counted on /metrics by the server that ended them', async (t) => {
  const app = await startApp(t, { STALE_USER_MS: 300, CLEANUP_INTERVAL_MS: 100, USER_STATE_TTL_S: 60 })
  await app.defineSpace({ id: 'cafe' })
  await app.defineSpace({ id: 'attic' })
  const join = async (userId: string, spaceId: string): Promise<TestClient> => {
    const c = await TestClient.connect(`${app.wsBase}/ws`, 'plaza.v1')
    t.teardown(() => c.close())
    await c.join(spaceId, app.token({ userId }))
    return c
  }
  const carol = await join('carol', 'cafe')
  await carol.close()
  const swept = await poll(() => analytics(app.httpBase, 'cafe'), (a) => a.days[0]?.sessions === 1, 5000)
  t.match(swept, { now: { users: 0, ghosts: 0 }, days: [{ visits: 1, sessions: 1 }] }, 'a ghost swept ends its session')
  t.ok((swept.days[0]?.avgSessionMs ?? 0) >= 300, 'which lasted until the sweep')

  await join('dan', 'attic')
  await join('erin', 'attic')
  const fay = await join('fay', 'attic')
  await fay.close()
  await settle(() => app.usersInRedis('attic'), (users) => users.fay?.connected === false)
  t.equal((await fetch(`${app.httpBase}/admin/spaces/attic`, { method: 'DELETE', headers: { authorization: ADMIN.authorization } })).status, 204)
  const metrics = await poll(() => scrape(app.httpBase), (m) => sampleValue(m, 'plaza_sessions_total', { space: 'attic' }) === 3, 3000)
  t.equal(sampleValue(metrics, 'plaza_sessions_total', { space: 'attic' }), 3, 'deleting a space ends its users\' sessions, its ghost\'s too')
  t.equal(sampleValue(metrics, 'plaza_sessions_total', { space: 'cafe' }), 1, 'the swept one is counted too')
  t.equal(sampleValue(metrics, 'plaza_session_duration_seconds_count', { space: 'cafe' }), 1, 'with its duration')
})
