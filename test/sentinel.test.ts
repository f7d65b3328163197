import { createSigner } from 'fast-jwt'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Test } from 'tap'
import { settle } from './helpers/app.js'
import { type Frame, TestClient } from './helpers/client.js'
import { startServer, type ServerProcess } from './helpers/process.js'
import { SentinelRedis } from './helpers/redis-sentinel.js'

// Each test starts five Redis processes, and the Sentinels take seconds to find each other.
t.setTimeout(180_000)

const JWT_SECRET = 'sentinel-secret'
const ADMIN_TOKEN = 'sentinel-admin'
const sign = createSigner({ key: JWT_SECRET })
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }
const WIDTH = 20
const HEIGHT = 30

/** Plaza servers on these Sentinels (REDIS_URL set but empty: the operator set no URL). */
function startPlaza (t: Test, redis: SentinelRedis): Promise<ServerProcess> {
  return startServer(t, { JWT_SECRET, ADMIN_TOKEN, REDIS_URL: '', REDIS_SENTINELS: redis.sentinels, REDIS_COMMAND_TIMEOUT_MS: 300 })
}

async function defineHall (plaza: ServerProcess): Promise<void> {
  const res = await fetch(`${plaza.http}/admin/spaces/hall`, { method: 'PUT', headers: admin, body: JSON.stringify({ width: WIDTH, height: HEIGHT }) })
  if (res.status !== 201) throw new Error(`PUT /admin/spaces/hall answered ${res.status}`)
}

async function health (plaza: ServerProcess): Promise<{ status: number, latency: number | null }> {
  const res = await fetch(`${plaza.http}/admin/health`, { headers: admin, signal: AbortSignal.timeout(2000) })
  return { status: res.status, latency: (await res.json() as { latency: number | null }).latency }
}

/** `space:hall:users` on a Redis of the test, as parsed entries by userId. */
async function hallUsers (redis: SentinelRedis, port: number): Promise<Record<string, { x: number, y: number, connected?: boolean }>> {
  const lines = (await redis.cli(port, 'hgetall', 'space:hall:users')).split('\n').filter((l) => l !== '')
  const entries: Record<string, { x: number, y: number, connected?: boolean }> = {}
  for (let i = 0; i + 1 < lines.length; i += 2) entries[lines[i] as string] = JSON.parse(lines[i + 1] as string)
  return entries
}

t.test('Plaza started with REDIS_SENTINELS finds the primary through them: users join, and space:<id>:users is written on the primary', async (t) => {
  const redis = await SentinelRedis.start(t)
  const plaza = await startPlaza(t, redis)
  await defineHall(plaza)
  const alice = await TestClient.connect(`${plaza.ws}/ws`, 'plaza.v1')
  const bob = await TestClient.connect(`${plaza.ws}/ws`, 'plaza.v1')
  t.teardown(() => Promise.all([alice.close(), bob.close()]))
  const a = (await alice.join('hall', sign({ userId: 'alice' }))).spawn as { x: number, y: number }
  const b = (await bob.join('hall', sign({ userId: 'bob' }))).spawn as { x: number, y: number }
  t.match((await alice.next('user-joined-space')).payload, { userId: 'bob' }, 'they see each other')

  const written = await settle(() => hallUsers(redis, redis.primary.port), (users) => Object.keys(users).length === 2)
  t.match(written, { alice: a, bob: b }, 'both are in the primary\'s space:hall:users, where they spawned')
  t.equal(await redis.replica.cli('hlen', 'space:hall:users'), '2', 'and replicated')
  t.equal((await health(plaza)).status, 200, 'health is healthy')
  const logged = await settle(() => plaza.output(), (out) => out.includes('✅ All Redis connections established'))
  t.match(logged, `(primary 127.0.0.1:${redis.primary.port})`, 'the log names the primary it found')
})

/** A user who walks to and fro on its row, a step every `everyMs`, and knows where it stands. */
class Walker {
  readonly userId: string
  readonly client: TestClient
  at: { x: number, y: number }
  #home: { x: number, y: number }
  #timer: NodeJS.Timeout | undefined

  constructor (userId: string, client: TestClient, spawn: { x: number, y: number }) {
    this.userId = userId
    this.client = client
    this.at = spawn
    this.#home = spawn
  }

  start (everyMs: number): void {
    const away = { x: this.#home.x + (this.#home.x + 1 < WIDTH ? 1 : -1), y: this.#home.y }
    this.#timer = setInterval(() => {
      this.at = this.at.x === this.#home.x ? away : this.#home
      this.client.send({ type: 'move', payload: this.at })
    }, everyMs)
  }

  stop (): void {
    clearInterval(this.#timer)
  }
}

/** Every `user-moved` a client receives, with when it arrived. */
function recordMoves (client: TestClient): Array<{ at: number, userId: string }> {
  const moves: Array<{ at: number, userId: string }> = []
  client.socket.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Frame
    if (frame.type === 'user-moved') moves.push({ at: Date.now(), userId: String(frame.payload.userId) })
  })
  return moves
}

t.test('the primary killed under walking users: Plaza follows the promoted replica within 15 s, users stay connected and keep moving, and the new primary holds everyone where they stand', async (t) => {
  const redis = await SentinelRedis.start(t)
  const [s1, s2] = await Promise.all([startPlaza(t, redis), startPlaza(t, redis)])
  await defineHall(s1)
  const servers = [s1, s2] as const
  const walkers: Walker[] = []
  const observers: TestClient[] = []
  t.teardown(() => Promise.all([...walkers.map((w) => w.client.close()), ...observers.map((o) => o.close())]))
  for (const [i, server] of servers.entries()) {
    const observer = await TestClient.connect(`${server.ws}/ws`, 'plaza.v1')
    observers.push(observer)
    await observer.join('hall', sign({ userId: `observer-${i + 1}` }))
  }
  const perServer = 8
  for (const [i, server] of servers.entries()) {
    for (let n = 0; n < perServer; n++) {
      const userId = `s${i + 1}-walker-${n}`
      const client = await TestClient.connect(`${server.ws}/ws`, 'plaza.v1')
      walkers.push(new Walker(userId, client, (await client.join('hall', sign({ userId }))).spawn as { x: number, y: number }))
    }
  }
  const everyone = [...walkers.map((w) => w.userId), 'observer-1', 'observer-2'].sort()
  const before = await settle(() => hallUsers(redis, redis.primary.port), (users) => Object.keys(users).length === everyone.length)
  t.same(Object.keys(before).sort(), everyone, 'everyone is on the primary before the failover')
  const [moves1, moves2] = observers.map(recordMoves) as [ReturnType<typeof recordMoves>, ReturnType<typeof recordMoves>]
  const onS1 = (userId: string): boolean => userId.startsWith('s1-')
  for (const walker of walkers) walker.start(150)
  // Walking across servers before the failover: Pub/Sub carries s1's moves to s2.
  await settle(() => moves2.filter((m) => onS1(m.userId)).length, (n) => n > 0)
  t.ok(moves2.some((m) => onS1(m.userId)), 'before: moves on s1 reach s2')

  // The observers stand still, so nothing but a write-back would put their entries on the new primary.
  const lost = ['observer-1', 'observer-2']
  await redis.loseOnReplica('space:hall:users', ...lost)
  const killed = Date.now()
  await redis.primary.stop('SIGKILL')
  await redis.promoted(30_000)
  const promoted = Date.now()
  // What the replica had when it was promoted, before any server wrote back.
  const atPromotion = await hallUsers(redis, redis.replica.port)
  t.same(lost.filter((userId) => atPromotion[userId] !== undefined), [], 'the promoted replica lacks the entries taken from it')
  const missing = everyone.filter((userId) => atPromotion[userId] === undefined && !lost.includes(userId))
  t.comment(`the Sentinels promoted the replica ${promoted - killed} ms after the primary was killed; besides the ${lost.length} entries taken from it, it lacked ${missing.length} of ${everyone.length}${missing.length > 0 ? ` (${missing.join(', ')})` : ''}`)

  // Each server follows on its own: healthy, with a latency, within 15 s of the promotion.
  // Asked every 250 ms: /admin is rate-limited (ADMIN_RATE_LIMIT_PER_MIN, 120).
  const followed = await Promise.all(servers.map(async (server) => {
    const deadline = Date.now() + 20_000
    for (;;) {
      const last = await health(server).catch(() => ({ status: 0, latency: null }))
      if ((last.status === 200 && last.latency !== null) || Date.now() > deadline) return { ...last, at: Date.now() }
      await sleep(250)
    }
  }))
  for (const [i, f] of followed.entries()) {
    t.comment(`s${i + 1} healthy again ${f.at - promoted} ms after the promotion (latency ${f.latency} ms)`)
    t.equal(f.status, 200, `s${i + 1}: health is healthy again`)
    t.type(f.latency, 'number', `s${i + 1}: and measures a latency`)
    t.ok(f.at - promoted <= 15_000, `s${i + 1}: within 15 s of the promotion (${f.at - promoted} ms)`)
  }
  const healthy = Math.max(...followed.map((f) => f.at))

  // Meanwhile, nobody was cut off, and moves went on being broadcast (from memory, on each server).
  for (const [i, moves] of [moves1, moves2].entries()) {
    const during = moves.filter((m) => m.at > killed && m.at < healthy && m.userId.startsWith(`s${i + 1}-`))
    t.comment(`s${i + 1}'s observer received ${during.length} moves of its server's walkers during the failover (${healthy - killed} ms)`)
    // At a step every 150 ms, 8 walkers make about 50 moves a second.
    t.ok(during.length >= ((healthy - killed) / 1000) * 20, `s${i + 1}: its users kept moving, and were seen moving, during the failover`)
  }
  const cut = [...walkers.map((w) => w.client), ...observers].filter((c) => c.socket.readyState !== c.socket.OPEN)
  t.equal(cut.length, 0, 'every user stayed connected')
  const dropped = observers.flatMap((o) => o.received).filter((f) => f.type === 'user-disconnected' || f.type === 'user-left')
  t.same(dropped, [], 'and no peer was told of a drop or a leave')

  // Pub/Sub followed too: s1's moves reach s2 again, through the new primary.
  const crossing = await settle(() => moves2.find((m) => onS1(m.userId) && m.at > healthy), (m) => m !== undefined, 15_000)
  t.ok(crossing, 'after: moves on s1 reach s2 again')
  if (crossing !== undefined) t.comment(`s1's moves reached s2 again ${crossing.at - promoted} ms after the promotion`)
  t.ok(crossing !== undefined && crossing.at - promoted <= 15_000, 'Pub/Sub followed within 15 s of the promotion')

  for (const walker of walkers) walker.stop()
  const rejected = (await Promise.all(walkers.map((w) => w.client.quiet()))).flat().filter((f) => f.type === 'move-rejected')
  t.same(rejected, [], 'no move was refused (each walker knows where it stands)')
  const expected = Object.fromEntries(walkers.map((w) => [w.userId, w.at]))
  const right = (users: Awaited<ReturnType<typeof hallUsers>>): string[] =>
    walkers.filter((w) => users[w.userId]?.x === w.at.x && users[w.userId]?.y === w.at.y && users[w.userId]?.connected !== false).map((w) => w.userId)
  const after = await settle(() => hallUsers(redis, redis.replica.port), (users) => right(users).length === walkers.length &&
    Object.keys(users).length === everyone.length, 5000)
  t.same(Object.keys(after).sort(), everyone, 'the new primary holds every connected user')
  t.match(after, expected, 'each where they stand now')
  t.same(walkers.filter((w) => after[w.userId]?.connected === false).map((w) => w.userId), [], 'none of them as a ghost')

  const logs = s1.output()
  t.match(logs, `(primary 127.0.0.1:${redis.primary.port})`, 'the log named the first primary')
  t.match(logs, `the primary is now 127.0.0.1:${redis.replica.port} (was 127.0.0.1:${redis.primary.port})`, 'and says the failover was followed')
})

t.test('two of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES set: the start fails naming them', async (t) => {
  const base = { JWT_SECRET, ADMIN_TOKEN }
  await t.rejects(startServer(t, { ...base, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINELS: '127.0.0.1:26379' }),
    /Plaza did not start: REDIS_URL and REDIS_SENTINELS are set together/, 'REDIS_URL with REDIS_SENTINELS')
  await t.rejects(startServer(t, { ...base, REDIS_SENTINELS: '127.0.0.1:26379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }),
    /Plaza did not start: REDIS_SENTINELS and REDIS_CLUSTER_NODES are set together/, 'REDIS_SENTINELS with REDIS_CLUSTER_NODES')
  await t.rejects(startServer(t, { ...base, REDIS_CLUSTER_NODES: '127.0.0.1:7000' }),
    /Plaza did not start: REDIS_CLUSTER_NODES is set, but Redis Cluster is not supported yet/, 'REDIS_CLUSTER_NODES alone: not supported yet')
})
