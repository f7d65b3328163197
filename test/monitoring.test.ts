import { execFile } from 'node:child_process'
import { request } from 'node:http'
import { promisify } from 'node:util'
import { PrivateRedis } from './helpers/private-redis.js'
import { freePort } from './helpers/process.js'
import t from 'tap'
import { ADMIN_TOKEN, settle, startApp, type TestApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'
import { PROMETHEUS_ACCEPT, parseExposition, sampleValue, scrape as scrapeMetrics, seriesOf } from './helpers/metrics.js'

/**
 * Monitoring (PROTOCOL §7, issue #3): /admin/health against a live, hung, dead and returning Redis,
 * the open /healthz, /admin/stats as JSON and as Prometheus exposition by Accept, /metrics checked
 * by a strict parser of the text format and against what really happened, and the admin token.
 */

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` }
const UNAUTHORIZED = { statusCode: 401, error: 'Unauthorized', message: 'Unauthorized' }
const EXPOSITION_TYPE = /^text\/plain; ?version=0\.0\.4(;|$)/

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const _execFileAsync = promisify(execFile)

// ---------------------------------------------------------------------------------------------
// HTTP: node:http rather than fetch, which would add `Accept: */*` to every request.

interface HttpReply {
  status: number
  type: string
  text: string
  /** Wall time from sending the request to the end of the body. */
  ms: number
}

function get (base: string, path: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: 'GET', headers, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        type: res.headers['content-type'] ?? '',
        text: Buffer.concat(chunks).toString(),
        ms: performance.now() - started
      }))
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within 5 s`)))
    req.on('error', reject)
    req.end()
  })
}

const json = (reply: HttpReply): Record<string, unknown> => JSON.parse(reply.text) as Record<string, unknown>

interface LocalSpace { spaceId: string, userCount: number }
interface ClusterSpace extends LocalSpace { ghostCount: number }
interface StatsBody {
  totalSpaces: number
  totalUsers: number
  spacesWithUsers: LocalSpace[]
  serverId: string
  cluster: { totalUsers: number, connectedUsers: number, ghostUsers: number, spacesWithUsers: ClusterSpace[] } | null
}

const bySpaceId = <T extends { spaceId: string }>(list: T[]): T[] => [...list].sort((a, b) => a.spaceId.localeCompare(b.spaceId))

async function statsOf (plaza: TestApp): Promise<StatsBody> {
  const reply = await get(plaza.httpBase, '/admin/stats', { ...AUTH, accept: 'application/json' })
  if (reply.status !== 200) throw new Error(`/admin/stats answered ${reply.status}: ${reply.text}`)
  return JSON.parse(reply.text) as StatsBody
}

/** /metrics, parsed by the strict reader in helpers/metrics.ts. */
const scrape = (plaza: TestApp) => scrapeMetrics(plaza.httpBase)

// ---------------------------------------------------------------------------------------------

t.test('health with a live Redis: 200 healthy, a measured latency, the Redis state, uptime and server id', async (t) => {
  const plaza = await startApp(t, { SERVER_ID: 'plaza-monitoring-1' })
  const reply = await get(plaza.httpBase, '/admin/health', AUTH)
  t.equal(reply.status, 200)
  t.match(reply.type, /^application\/json/)
  const body = json(reply)
  t.equal(body.status, 'healthy')
  t.equal(typeof body.latency, 'number', 'latency is a number of ms')
  t.ok((body.latency as number) >= 0 && (body.latency as number) < 500, `latency is a small round trip (${String(body.latency)} ms)`)
  t.equal(body.redis, 'ready', 'the Redis connection state')
  t.equal(body.serverId, 'plaza-monitoring-1', 'the server id (SERVER_ID)')
  t.equal(typeof body.uptime, 'number')
  t.ok((body.uptime as number) >= 0, 'uptime is not negative')
})

t.test('health answers 503 within a second while Redis hangs or is gone, and 200 again when it is back', async (t) => {
  const redis = await PrivateRedis.start(t)
  const plaza = await startApp(t, { REDIS_URL: redis.url })
  const health = (): Promise<HttpReply> => get(plaza.httpBase, '/admin/health', AUTH)

  const up = await health()
  t.equal(up.status, 200, 'premise: healthy against the private Redis')
  t.equal(json(up).status, 'healthy')

  // (a) A hung Redis: the process is stopped, its socket stays open and nothing answers.
  redis.signal('SIGSTOP')
  const hung = await health()
  t.equal(hung.status, 503, 'a hung Redis → 503')
  t.ok(hung.ms < 1000, `answered in ${Math.round(hung.ms)} ms although Redis never answered`)
  t.equal(json(hung).status, 'unhealthy')
  t.equal(json(hung).latency, null, 'latency is null when Redis did not answer')
  const healthzWhileHung = await get(plaza.httpBase, '/healthz')
  t.equal(healthzWhileHung.status, 200, '/healthz does not depend on Redis')
  t.ok(healthzWhileHung.ms < 1000, '/healthz answers at once')

  redis.signal('SIGCONT')
  const thawed = await settle(health, (r) => r.status === 200, 5000)
  t.equal(thawed.status, 200, 'healthy again once Redis answers')
  t.equal(json(thawed).status, 'healthy')
  t.equal(typeof json(thawed).latency, 'number')

  // (b) A dead Redis: the connection is refused.
  await redis.stop('SIGTERM')
  const gone = await health()
  t.equal(gone.status, 503, 'Redis gone → 503')
  t.ok(gone.ms < 1000, `answered in ${Math.round(gone.ms)} ms`)
  t.equal(json(gone).status, 'unhealthy')
  t.equal(json(gone).latency, null)
  t.not(json(gone).redis, 'ready', 'the connection state says Redis is not ready')

  const healthz = await get(plaza.httpBase, '/healthz')
  t.equal(healthz.status, 200, '/healthz is 200 with Redis down')
  t.strictSame(JSON.parse(healthz.text), { status: 'ok' })

  const stats = await get(plaza.httpBase, '/admin/stats', AUTH)
  t.equal(stats.status, 200, '/admin/stats still answers with this server\'s own numbers')
  t.match(json(stats), { totalSpaces: 0, totalUsers: 0, spacesWithUsers: [] })

  const metrics = await scrape(plaza)
  t.same(metrics.errors, [], 'the exposition stays valid with Redis down')
  t.equal(sampleValue(metrics, 'plaza_redis_up'), 0, 'plaza_redis_up is 0')
  const latency = sampleValue(metrics, 'plaza_redis_latency_seconds')
  t.ok(latency === undefined || Number.isNaN(latency),
    `plaza_redis_latency_seconds is absent (or NaN) when Redis did not answer, not a measured ${String(latency)} s`)

  await redis.start()
  const back = await settle(health, (r) => r.status === 200, 10_000)
  t.equal(back.status, 200, 'healthy again after Redis restarts on the same port')
  t.equal(json(back).status, 'healthy')
  t.equal(json(back).redis, 'ready')
  const after = await settle(() => scrape(plaza), (m) => sampleValue(m, 'plaza_redis_up') === 1, 5000)
  t.equal(sampleValue(after, 'plaza_redis_up'), 1, 'plaza_redis_up is 1 again')
})

t.test('/healthz is open and says nothing but ok, even without Redis', async (t) => {
  const closed = await freePort()
  const plaza = await startApp(t, { REDIS_URL: `redis://127.0.0.1:${closed}`, REDIS_CONNECT_TIMEOUT_MS: 200 })
  for (const headers of [{}, { authorization: 'Bearer wrong' }, AUTH] as Array<Record<string, string>>) {
    const reply = await get(plaza.httpBase, '/healthz', headers)
    t.equal(reply.status, 200, `200 with ${JSON.stringify(headers)}`)
    t.match(reply.type, /^application\/json/)
    t.strictSame(JSON.parse(reply.text), { status: 'ok' }, 'nothing but {status: "ok"}')
  }
  const health = await get(plaza.httpBase, '/admin/health', AUTH)
  t.equal(health.status, 503, '/admin/health: Redis was never there → 503')
  t.ok(health.ms < 1000, `answered in ${Math.round(health.ms)} ms`)
  t.match(json(health), { status: 'unhealthy', latency: null })
})

t.test('stats: this server\'s connected users as in getStats(), and the cluster as Redis knows it, ghosts apart', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'A' })
  await plaza.defineSpace({ id: 'B' })
  const clients = await Promise.all([0, 1, 2, 3].map(() => TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')))
  t.teardown(() => Promise.all(clients.map((c) => c.close())))
  const [a1, a2, a3, b1] = clients as [TestClient, TestClient, TestClient, TestClient]
  await a1.join('A', plaza.token({ userId: 'a1' }))
  await a2.join('A', plaza.token({ userId: 'a2' }))
  await a3.join('A', plaza.token({ userId: 'a3' }))
  await b1.join('B', plaza.token({ userId: 'b1' }))

  const reply = await get(plaza.httpBase, '/admin/stats', AUTH)
  t.equal(reply.status, 200)
  t.match(reply.type, /^application\/json/, 'JSON without an Accept header')

  let stats = await settle(() => statsOf(plaza), (s) => s.cluster?.totalUsers === 4)
  t.equal(stats.totalSpaces, 2)
  t.equal(stats.totalUsers, 4)
  t.same(bySpaceId(stats.spacesWithUsers), [{ spaceId: 'A', userCount: 3 }, { spaceId: 'B', userCount: 1 }])
  t.equal(typeof stats.serverId, 'string')
  t.match(stats.cluster, { totalUsers: 4, connectedUsers: 4, ghostUsers: 0 }, 'cluster: everyone, all connected')

  // A drop: the user leaves this server's memory but stays in Redis as a ghost.
  await a3.close()
  await a1.waitFor('user-disconnected')
  stats = await settle(() => statsOf(plaza), (s) => s.cluster?.ghostUsers === 1)
  t.equal(stats.totalUsers, 3, 'local: the dropped user is no longer counted')
  t.equal(stats.totalSpaces, 2)
  t.same(bySpaceId(stats.spacesWithUsers), [{ spaceId: 'A', userCount: 2 }, { spaceId: 'B', userCount: 1 }])
  t.match(stats.cluster, { totalUsers: 4, connectedUsers: 3, ghostUsers: 1 }, 'cluster: the ghost is counted apart')
  t.same(bySpaceId(stats.cluster?.spacesWithUsers ?? []), [
    { spaceId: 'A', userCount: 3, ghostCount: 1 },
    { spaceId: 'B', userCount: 1, ghostCount: 0 }
  ])

  // A leave: gone from memory and from Redis; B is empty, so it is no longer listed.
  b1.send({ type: 'leave', payload: {} })
  stats = await settle(() => statsOf(plaza), (s) => s.cluster?.totalUsers === 3 && s.totalUsers === 2)
  t.equal(stats.totalUsers, 2)
  t.equal(stats.totalSpaces, 1, 'a space without users is not counted')
  t.same(stats.spacesWithUsers, [{ spaceId: 'A', userCount: 2 }])
  t.match(stats.cluster, { totalUsers: 3, connectedUsers: 2, ghostUsers: 1 }, 'cluster: the leaver is gone')
  t.same(bySpaceId(stats.cluster?.spacesWithUsers ?? []), [{ spaceId: 'A', userCount: 3, ghostCount: 1 }])

  // Another server's connected user, written by hand as that server would.
  const now = Date.now()
  await plaza.redis.hset(`${plaza.prefix}space:C:users`, 'zed',
    JSON.stringify({ username: 'Zed', x: 1, y: 1, connectionId: 'elsewhere', lastUpdated: now, connected: true, serverId: 'another-server' }))
  await plaza.redis.zadd(`${plaza.prefix}plaza:presence`, now, 'C zed')
  stats = await statsOf(plaza)
  t.equal(stats.totalUsers, 2, 'local counts do not include another server\'s user')
  t.same(stats.spacesWithUsers, [{ spaceId: 'A', userCount: 2 }])
  t.match(stats.cluster, { totalUsers: 4, connectedUsers: 3, ghostUsers: 1 }, 'cluster counts include it')
  t.same(bySpaceId(stats.cluster?.spacesWithUsers ?? []), [
    { spaceId: 'A', userCount: 3, ghostCount: 1 },
    { spaceId: 'C', userCount: 1, ghostCount: 0 }
  ])
})

t.test('the exposition validator refuses what Prometheus would refuse', async (t) => {
  const good = [
    '# HELP a_total Things, with a \\\\ and a \\n.',
    '# TYPE a_total counter',
    'a_total{k="v\\"q\\\\",l="x\\ny",} 3',
    'a_total 1e3 1712345678000',
    '# TYPE g gauge',
    'g NaN',
    'g{s="2"} Nan',
    'g{s="3"} +Inf',
    'g{s="1"} -Inf',
    '# TYPE h histogram',
    'h_bucket{le="1"} 1',
    'h_bucket{le="+Inf"} 2',
    'h_sum 0.5',
    'h_count 2',
    ''
  ].join('\n')
  const parsed = parseExposition(good)
  t.same(parsed.errors, [], 'a valid exposition passes')
  t.equal(sampleValue(parsed, 'a_total', { k: 'v"q\\', l: 'x\ny' }), 3, 'label values are unescaped')
  t.equal(sampleValue(parsed, 'a_total'), 1000)
  t.ok(Number.isNaN(sampleValue(parsed, 'g') ?? 0))
  t.equal(sampleValue(parsed, 'g', { s: '1' }), Number.NEGATIVE_INFINITY)
  t.ok(Number.isNaN(sampleValue(parsed, 'g', { s: '2' }) ?? 0), 'Nan, as prom-client writes it, is NaN to Go\'s ParseFloat')
  t.equal(sampleValue(parsed, 'g', { s: '3' }), Number.POSITIVE_INFINITY)

  const bad: Record<string, string> = {
    'a sample without TYPE': 'x 1\n',
    'an invalid metric name': '# TYPE 1x gauge\n1x 1\n',
    'a value that is not a number': '# TYPE x gauge\nx one\n',
    'an unescaped quote': '# TYPE x gauge\nx{a="b"c"} 1\n',
    'an invalid escape': '# TYPE x gauge\nx{a="\\t"} 1\n',
    'an invalid label name': '# TYPE x gauge\nx{a-b="c"} 1\n',
    'an unquoted label value': '# TYPE x gauge\nx{a=b} 1\n',
    'an unknown type': '# TYPE x meter\nx 1\n',
    'a stray comment': '# TYPE x gauge\n# just a comment\nx 1\n',
    'TYPE after the sample': 'x 1\n# TYPE x gauge\n',
    'a family in two groups': '# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a="b"} 2\n',
    'a histogram without +Inf': '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
    'a histogram whose count is not +Inf': '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n',
    'no final line feed': '# TYPE x gauge\nx 1',
    'the same series twice': '# TYPE x gauge\nx 1\nx 2\n',
    'a negative counter': '# TYPE c_total counter\nc_total -1\n',
    'missing value': '# TYPE x gauge\nx{a="b"}\n',
    'a value with trailing junk': '# TYPE x gauge\nx NaNa\n',
    'a signed NaN': '# TYPE x gauge\nx +NaN\n',
    'an invalid escape in HELP': '# HELP x a \\t tab\n# TYPE x gauge\nx 1\n'
  }
  for (const [what, text] of Object.entries(bad)) {
    t.not(parseExposition(text).errors.length, 0, `refused: ${what}`)
  }
})

t.test('content negotiation: a Prometheus scrape or text/plain gets the exposition, anything else JSON', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'A' })
  const client = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => client.close())
  await client.join('A', plaza.token({ userId: 'alice' }))

  const required: Record<string, string> = {
    plaza_space_users: 'gauge',
    plaza_users: 'gauge',
    plaza_joins_total: 'counter',
    plaza_drops_total: 'counter',
    plaza_leaves_total: 'counter',
    plaza_moves_total: 'counter',
    plaza_messages_received_total: 'counter',
    plaza_messages_sent_total: 'counter',
    plaza_stale_users_swept_total: 'counter',
    plaza_cleanup_duration_seconds: 'histogram',
    plaza_redis_latency_seconds: 'gauge',
    plaza_redis_up: 'gauge',
    plaza_cluster_users: 'gauge',
    nodejs_eventloop_lag_seconds: 'gauge',
    process_resident_memory_bytes: 'gauge'
  }
  const exposition = async (path: string, accept: string | undefined): Promise<void> => {
    const what = `${path} with Accept ${accept ?? '(none)'}`
    const reply = await get(plaza.httpBase, path, { ...AUTH, ...(accept === undefined ? {} : { accept }) })
    t.equal(reply.status, 200, what)
    t.match(reply.type, EXPOSITION_TYPE, `${what} → text/plain; version=0.0.4`)
    const parsed = parseExposition(reply.text)
    t.same(parsed.errors, [], `${what}: valid text exposition`)
    for (const [name, type] of Object.entries(required)) t.equal(parsed.types.get(name), type, `${what}: ${name} is a ${type}`)
    t.equal(sampleValue(parsed, 'plaza_space_users', { space: 'A' }), 1, `${what}: the user is counted`)
    t.equal(sampleValue(parsed, 'plaza_users'), 1)
  }
  const jsonStats = async (accept: string | undefined): Promise<void> => {
    const what = `/admin/stats with Accept ${accept ?? '(none)'}`
    const reply = await get(plaza.httpBase, '/admin/stats', { ...AUTH, ...(accept === undefined ? {} : { accept }) })
    t.equal(reply.status, 200, what)
    t.match(reply.type, /^application\/json/, `${what} → JSON`)
    t.match(JSON.parse(reply.text), { totalSpaces: 1, totalUsers: 1, spacesWithUsers: [{ spaceId: 'A', userCount: 1 }] }, what)
  }

  await exposition('/admin/stats', PROMETHEUS_ACCEPT)
  await exposition('/admin/stats', 'text/plain')
  await exposition('/admin/stats', 'application/openmetrics-text')
  await exposition('/metrics', PROMETHEUS_ACCEPT)
  await exposition('/metrics', undefined)
  await exposition('/metrics', 'application/json')

  await jsonStats('application/json')
  await jsonStats('*/*')
  await jsonStats(undefined)
  await jsonStats(BROWSER_ACCEPT)
  await jsonStats('application/json, text/plain;q=0.5')
})

t.test('the counters in /metrics are exactly what happened', async (t) => {
  const plaza = await startApp(t, { MAX_MOVES_PER_S: 5 })
  await plaza.defineSpace({ id: 'A', width: 10, height: 10 })
  const clients: TestClient[] = []
  t.teardown(() => Promise.all(clients.map((c) => c.close())))
  let sent = 0
  const open = async (): Promise<TestClient> => {
    const client = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
    clients.push(client)
    return client
  }
  const send = (client: TestClient, message: unknown): void => {
    sent++
    client.send(message)
  }
  const join = (client: TestClient, userId: string): Promise<Record<string, unknown>> => {
    sent++
    return client.join('A', plaza.token({ userId }))
  }

  const zero = await scrape(plaza)
  t.equal(sampleValue(zero, 'plaza_joins_total', { kind: 'new' }), 0, 'counters start at zero')
  t.equal(sampleValue(zero, 'plaza_moves_total', { result: 'accepted' }), 0)

  const alice1 = await open()
  await join(alice1, 'alice') // new
  const bob = await open()
  await join(bob, 'bob') // new
  await alice1.next('user-joined-space')
  const carol = await open()
  await join(carol, 'carol') // new
  await alice1.next('user-joined-space')
  await bob.next('user-joined-space')

  await alice1.close() // drop: alice is a ghost
  await bob.next('user-disconnected')
  await carol.next('user-disconnected')

  const alice2 = await open()
  t.equal((await join(alice2, 'alice')).resumed, true, 'premise: the ghost resumes')
  await bob.next('user-joined-space')
  await carol.next('user-joined-space')

  const alice3 = await open()
  const took = await join(alice3, 'alice')
  t.equal(took.resumed, true, 'premise: a take-over')
  t.equal((await alice2.closed).code, 4009, 'premise: the older connection is replaced')

  // One move refused for each reason, two accepted, in one burst inside a fresh 1 s window.
  const at = took.spawn as { x: number, y: number }
  const around = [{ x: at.x + 1, y: at.y }, { x: at.x - 1, y: at.y }, { x: at.x, y: at.y + 1 }, { x: at.x, y: at.y - 1 }]
    .filter(({ x, y }) => x >= 0 && x < 10 && y >= 0 && y < 10)
  const [wall, step] = around as [{ x: number, y: number }, { x: number, y: number }]
  await plaza.defineSpace({ id: 'A', width: 10, height: 10, obstacles: [{ ...wall, width: 1, height: 1 }] })
  await sleep(1050)
  for (const target of [{ x: 99, y: 99 }, at, wall, step, at, step]) send(alice3, { type: 'move', payload: target })
  const reasons: unknown[] = []
  for (let i = 0; i < 4; i++) reasons.push((await alice3.next('move-rejected')).payload.reason)
  t.same(reasons, ['out-of-bounds', 'not-adjacent', 'blocked', 'rate-limited'], 'premise: one refusal of each reason')
  for (const peer of [bob, carol]) {
    t.same((await peer.next('user-moved')).payload, { userId: 'alice', ...step })
    t.same((await peer.next('user-moved')).payload, { userId: 'alice', ...at })
  }

  send(bob, { type: 'leave', payload: {} })
  await alice3.next('user-left')
  await carol.next('user-left')

  const received = (): number => clients.reduce((sum, c) => sum + c.received.length, 0)
  const metrics = await settle(() => scrape(plaza),
    (m) => sampleValue(m, 'plaza_messages_sent_total') === received() && sampleValue(m, 'plaza_messages_received_total') === sent)
  t.same(metrics.errors, [])
  t.equal(sampleValue(metrics, 'plaza_joins_total', { kind: 'new' }), 3, 'joins: 3 new')
  t.equal(sampleValue(metrics, 'plaza_joins_total', { kind: 'resume' }), 1, 'joins: 1 resume')
  t.equal(sampleValue(metrics, 'plaza_joins_total', { kind: 'takeover' }), 1, 'joins: 1 take-over')
  t.equal(sampleValue(metrics, 'plaza_drops_total'), 1, 'one drop (the replaced connection is not a drop)')
  t.equal(sampleValue(metrics, 'plaza_leaves_total'), 1, 'one leave')
  t.equal(sampleValue(metrics, 'plaza_moves_total', { result: 'accepted' }), 2, 'two moves accepted')
  for (const reason of ['out-of-bounds', 'not-adjacent', 'blocked', 'rate-limited']) {
    t.equal(sampleValue(metrics, 'plaza_moves_total', { result: reason }), 1, `one move refused as ${reason}`)
  }
  t.equal(sampleValue(metrics, 'plaza_messages_received_total'), sent, `every frame the clients sent (${sent})`)
  t.equal(sampleValue(metrics, 'plaza_messages_sent_total'), received(), `every frame the clients received (${received()})`)
  t.equal(sampleValue(metrics, 'plaza_stale_users_swept_total'), 0, 'nothing swept')
  t.same(seriesOf(metrics, 'plaza_space_users'), [{ labels: { space: 'A' }, value: 2 }], 'alice and carol are in A')
  t.equal(sampleValue(metrics, 'plaza_users'), 2)
  const cluster = await settle(() => scrape(plaza), (m) => sampleValue(m, 'plaza_cluster_users', { state: 'connected' }) === 2)
  t.equal(sampleValue(cluster, 'plaza_cluster_users', { state: 'connected' }), 2, 'cluster: two connected')
  t.equal(sampleValue(cluster, 'plaza_cluster_users', { state: 'ghost' }), 0, 'cluster: no ghost (alice came back)')
  t.equal(sampleValue(cluster, 'plaza_redis_up'), 1)
  const latency = sampleValue(cluster, 'plaza_redis_latency_seconds')
  t.ok(latency !== undefined && latency >= 0 && latency < 0.5, `a measured Redis latency (${String(latency)} s)`)
})

t.test('stale sweeps are counted and timed', async (t) => {
  const plaza = await startApp(t, { CLEANUP_INTERVAL_MS: 100 })
  const old = Date.now() - 600_000
  await plaza.redis.hset(`${plaza.prefix}space:A:users`, 'old',
    JSON.stringify({ username: 'Old', x: 1, y: 1, connectionId: 'gone', lastUpdated: old, connected: false, serverId: 'dead-server' }))
  await plaza.redis.zadd(`${plaza.prefix}plaza:presence`, old, 'A old')
  await plaza.redis.zadd(`${plaza.prefix}plaza:ghosts`, old, 'A old')
  const metrics = await settle(() => scrape(plaza), (m) => sampleValue(m, 'plaza_stale_users_swept_total') === 1, 5000)
  t.equal(sampleValue(metrics, 'plaza_stale_users_swept_total'), 1, 'one stale user swept')
  t.same(await plaza.usersInRedis('A'), {}, 'premise: it is gone from Redis')
  t.ok((sampleValue(metrics, 'plaza_cleanup_duration_seconds_count') ?? 0) >= 1, 'the sweep duration is observed')
  t.same(metrics.errors, [])
})

t.test('beyond METRICS_MAX_SPACES, spaces are summed under space="(other)"', async (t) => {
  const plaza = await startApp(t, { METRICS_MAX_SPACES: 1 })
  const placements: Array<[string, string]> = [['X', 'x1'], ['X', 'x2'], ['Y', 'y1'], ['Z', 'z1']]
  for (const id of ['X', 'Y', 'Z']) await plaza.defineSpace({ id })
  const clients: TestClient[] = []
  t.teardown(() => Promise.all(clients.map((c) => c.close())))
  for (const [spaceId, userId] of placements) {
    const client = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
    clients.push(client)
    await client.join(spaceId, plaza.token({ userId }))
  }
  const metrics = await scrape(plaza)
  t.same(metrics.errors, [])
  const series = seriesOf(metrics, 'plaza_space_users').sort((a, b) => ((a.labels.space ?? '') < (b.labels.space ?? '') ? -1 : 1))
  t.same(series, [{ labels: { space: '(other)' }, value: 2 }, { labels: { space: 'X' }, value: 2 }],
    'the largest space has its own label, the two others are summed')
  t.equal(sampleValue(metrics, 'plaza_users'), 4, 'the total is unaffected')
})

t.test('admin routes and /metrics refuse a missing or wrong token with a bare 401', async (t) => {
  const plaza = await startApp(t)
  const refused: Array<Record<string, string>> = [
    {},
    { authorization: '' },
    { authorization: 'Bearer wrong' },
    { authorization: 'Bearer ' },
    { authorization: `Bearer ${ADMIN_TOKEN}x` },
    { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` },
    { authorization: `Bearer ${ADMIN_TOKEN} extra` },
    { authorization: ADMIN_TOKEN },
    { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` },
    { authorization: `Basic ${ADMIN_TOKEN}` },
    { authorization: 'Bearer wrong', accept: PROMETHEUS_ACCEPT }
  ]
  for (const path of ['/admin/health', '/admin/stats', '/metrics']) {
    for (const headers of refused) {
      const reply = await get(plaza.httpBase, path, headers)
      t.equal(reply.status, 401, `${path} with ${JSON.stringify(headers)} → 401`)
      t.match(reply.type, /^application\/json/)
      t.strictSame(JSON.parse(reply.text), UNAUTHORIZED, 'no detail')
    }
    for (const authorization of [`Bearer ${ADMIN_TOKEN}`, `bearer ${ADMIN_TOKEN}`, `BEARER ${ADMIN_TOKEN}`]) {
      const reply = await get(plaza.httpBase, path, { authorization })
      t.equal(reply.status, 200, `${path} with "${authorization.split(' ')[0] ?? ''} <token>" → 200`)
    }
  }
})
