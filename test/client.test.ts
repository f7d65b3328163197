import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import {
  DEFAULT_RECONNECT,
  OfflineQueue,
  PlazaClient,
  type PlazaClientOptions,
  reconnectDelay,
  type StatusChange
} from '../client/index.js'
import { getOrCreate } from '../src/util/maps.js'
import { ADMIN_TOKEN, isolate, JWT_SECRET, startApp, testEnv } from './helpers/app.js'
import { TestClient } from './helpers/client.js'
import { freePort, startServer } from './helpers/process.js'
import { next } from './helpers/plaza-events.js'
import { startProxy } from './helpers/tcp-proxy.js'

const sign = createSigner({ key: JWT_SECRET, algorithm: 'HS256' })
const tokenFor = (userId: string): string => sign({ userId, username: userId.toUpperCase() })

/** A schedule fast enough for tests, without jitter so that every delay is known. */
const FAST = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0, maxAttempts: 5 }

interface Recorded extends StatusChange { at: number }

/** A client of the library under test, with every status it goes through recorded; closed at teardown. */
function plaza (test: Test, url: string, userId: string, options: Partial<PlazaClientOptions> = {}) {
  const client = new PlazaClient({ url: `${url}/ws`, token: tokenFor(userId), WebSocket, reconnect: FAST, ...options })
  const statuses: Recorded[] = []
  client.on('status', (s) => statuses.push({ ...s, at: Date.now() }))
  test.teardown(() => client.close())
  return { client, statuses }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('reconnectDelay: 1 s, 2 s, 4 s… capped at 30 s by default, jitter within ±jitter of the schedule', async (t) => {
  const noJitter = { ...DEFAULT_RECONNECT, jitter: 0 }
  t.same([1, 2, 3, 4, 5, 6, 7].map((n) => reconnectDelay(n, noJitter)), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
  t.equal(DEFAULT_RECONNECT.maxAttempts, 5)
  t.equal(reconnectDelay(1, DEFAULT_RECONNECT, () => 0), 800, 'lowest: 20% early')
  t.equal(reconnectDelay(1, DEFAULT_RECONNECT, () => 0.5), 1000)
  t.equal(reconnectDelay(2, DEFAULT_RECONNECT, () => 0.999_999), 2400, 'highest: 20% late')
  t.equal(reconnectDelay(9, DEFAULT_RECONNECT, () => 0.999_999), 30_000, 'never above the maximum')
  const spread = new Set(Array.from({ length: 50 }, () => reconnectDelay(3, DEFAULT_RECONNECT)))
  t.ok(spread.size > 10, 'clients of one restarted server do not all come back at the same moment')
  t.ok([...spread].every((d) => d >= 3200 && d <= 4800))
})

t.test('OfflineQueue keeps one move, the latest, in order with the rest, and drops the oldest when full', async (t) => {
  const queue = new OfflineQueue(3)
  queue.push({ type: 'move', payload: { x: 1, y: 0 } })
  queue.push({ type: 'emote', payload: { n: 1 } })
  queue.push({ type: 'move', payload: { x: 2, y: 0 } })
  t.same(queue.drain(), [{ type: 'emote', payload: { n: 1 } }, { type: 'move', payload: { x: 2, y: 0 } }])
  t.equal(queue.size, 0)
  for (let n = 1; n <= 5; n++) queue.push({ type: 'emote', payload: { n } })
  t.same(queue.drain().map((m) => m.payload.n), [3, 4, 5])
  t.equal(queue.dropped, 2)
})

t.test('joins, keeps the people of the space current, and moves', async (t) => {
  const { app, wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'plain', width: 10, height: 10, obstacles: [{ x: 0, y: 0, width: 1, height: 1 }] })
  const bob = await TestClient.connect(`${wsBase}/ws`, 'plaza.v1')
  t.teardown(() => bob.close())
  const bobJoined = await bob.join('plain', tokenFor('bob'))
  const { client: alice } = plaza(t, wsBase, 'alice')

  const joined = await alice.join('plain')
  t.equal(alice.status.status, 'connected')
  t.equal(joined.userId, 'alice')
  t.same(alice.space?.obstacles, [{ x: 0, y: 0, width: 1, height: 1 }])
  t.same(alice.self, { userId: 'alice', ...joined.spawn })
  t.match(alice.users.get('bob'), { userId: 'bob', username: 'BOB', ...(bobJoined.spawn as object), connected: true, idle: false, lastActive: Number })
  t.equal((await bob.next('user-joined-space')).payload.userId, 'alice')

  // Bob moves: Alice's map follows.
  const bobAt = bobJoined.spawn as { x: number, y: number }
  const bobTo = { x: bobAt.x + (bobAt.x + 1 < 10 ? 1 : -1), y: bobAt.y }
  const moved = next(alice, 'user-moved')
  bob.send({ type: 'move', payload: bobTo })
  t.same(await moved, { userId: 'bob', ...bobTo })
  t.match(alice.users.get('bob'), { userId: 'bob', username: 'BOB', ...bobTo, connected: true, idle: false })

  // Alice moves: Bob sees it; her own position follows.
  const to = { x: joined.spawn.x + (joined.spawn.x + 1 < 10 ? 1 : -1), y: joined.spawn.y }
  t.equal(alice.move(to.x, to.y), 'sent')
  t.same((await bob.waitFor('user-moved')).payload, { userId: 'alice', ...to })
  t.same(alice.self, { userId: 'alice', ...to })
  t.equal(app.roomManager.counters.moves.accepted, 2)

  // A refused move puts her back where the server has her.
  const rejected = next(alice, 'move-rejected')
  alice.move(to.x, to.y + 2 < 10 ? to.y + 2 : to.y - 2)
  t.same(await rejected, { ...to, reason: 'not-adjacent' })
  t.same(alice.self, { userId: 'alice', ...to })

  // Bob drops, comes back, leaves.
  const ghost = next(alice, 'user-disconnected')
  await bob.close()
  await ghost
  t.equal(alice.users.get('bob')?.connected, false, 'a ghost stays, marked')
  const bob2 = await TestClient.connect(`${wsBase}/ws`, 'plaza.v1')
  t.teardown(() => bob2.close())
  const back = next(alice, 'user-joined-space')
  await bob2.join('plain', tokenFor('bob'))
  await back
  t.match(alice.users.get('bob'), { userId: 'bob', username: 'BOB', ...bobTo, connected: true, idle: false }, 'back where he was')
  const left = next(alice, 'user-left')
  bob2.send({ type: 'leave', payload: {} })
  await left
  t.equal(alice.users.has('bob'), false)
})

t.test('heartbeat: sent on schedule, answered, round trip measured', async (t) => {
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'hb' })
  const { client } = plaza(t, wsBase, 'alice', { heartbeatIntervalMs: 50 })
  await client.join('hb')
  t.equal(client.latencyMs, undefined)
  const beat = await next(client, 'heartbeat')
  t.type(beat.serverTime, 'number')
  t.ok(client.latencyMs !== undefined && client.latencyMs >= 0 && client.latencyMs < 1000, `latency ${client.latencyMs} ms`)
})

t.test('a connection that goes silent is given up after the heartbeat timeout, and the client comes back', async (t) => {
  const { app, wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'quiet' })
  const proxy = await startProxy(t, Number(new URL(wsBase).port))
  const { client, statuses } = plaza(t, `ws://127.0.0.1:${proxy.port}`, 'alice', { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300, connectTimeoutMs: 400 })
  const first = await client.join('quiet')

  proxy.cut({ silent: true })
  const cutAt = Date.now()
  const lost = await next(client, 'close')
  t.equal(lost.code, 4000, 'closed by the client itself')
  t.equal(lost.willReconnect, true)
  const waited = Date.now() - cutAt
  t.ok(waited >= 300 && waited < 1500, `noticed after ${waited} ms (heartbeat every 100 ms, timeout 300 ms)`)

  // The first attempt hangs in the silent network too: the connect timeout counts it as failed.
  const failed = await next(client, 'close')
  t.equal(failed.code, 4000)
  t.match(client.status, { status: 'reconnecting', attempt: 2, retryInMs: 200 })

  proxy.restore()
  const again = await next(client, 'space-joined', () => true, 5000)
  t.equal(again.resumed, true, 'the server still had her (its ping had not yet found the dead socket): a take-over')
  t.same(again.spawn, first.spawn)
  t.same(statuses.map((s) => s.status), ['connecting', 'connected', 'reconnecting', 'reconnecting', 'reconnecting', 'reconnecting', 'connected'])
  t.equal(app.roomManager.counters.joins.takeover, 1)
})

t.test('server stopped and restarted: reconnects on schedule, rejoins where it was, sends only the latest queued move', async (t) => {
  const { prefix, redis } = isolate(t)
  const port = await freePort()
  const env = testEnv(prefix, { PORT: port })
  let server = await startServer(t, env)
  const put = await fetch(`${server.http}/admin/spaces/restart`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ width: 20, height: 20 })
  })
  t.equal(put.status, 201)

  // Enough attempts to outlast a server process's start.
  const { client, statuses } = plaza(t, server.ws, 'alice', { reconnect: { ...FAST, maxAttempts: 30 } })
  const first = await client.join('restart')
  t.equal(first.resumed, false)

  const closing = next(client, 'close')
  server.child.kill('SIGTERM')
  await server.exited
  const closed = await closing
  t.same(closed, { code: 1001, reason: closed.reason, willReconnect: true }, 'the server said it is going away')

  // While it is down: moves wait, and only the latest is kept.
  const { x, y } = first.spawn
  const right = { x: x + 1 < 20 ? x + 1 : x - 1, y }
  const down = { x, y: y + 1 < 20 ? y + 1 : y - 1 }
  t.equal(client.move(right.x, right.y), 'queued')
  t.equal(client.move(down.x, down.y), 'queued')
  t.same(client.queue, { size: 1, dropped: 0 })

  // Let attempts 1 (100 ms), 2 (200 ms) and 3 (400 ms) fail against the closed port.
  await sleep(100 + 200 + 400 + 150)
  // Listened for before the start: the client may rejoin before startServer has read "listening".
  const rejoining = next(client, 'space-joined', () => true, 20_000)
  server = await startServer(t, env)
  const rejoined = await rejoining
  t.equal(rejoined.resumed, true, 'a ghost came back')
  t.same(rejoined.spawn, first.spawn, 'where it was')
  await sleep(300)

  const waits = statuses.filter((s) => s.status === 'reconnecting' && (s.retryInMs ?? 0) > 0)
  const delays = waits.map((s) => s.retryInMs)
  t.same(delays.slice(0, 3), [100, 200, 400], 'the backoff doubles from the initial delay')
  t.ok(delays.length >= 4, `attempts until the server was back: ${delays.length}`)
  t.same(waits.map((s) => s.attempt), delays.map((_, i) => i + 1))
  const attempts = statuses.filter((s) => s.status === 'reconnecting' && s.retryInMs === 0)
  // Node's timers count from the event loop's time, cached when the turn began: on a busy machine a
  // timer set late in a long turn fires that much sooner by Date.now(). 25 ms of slack for that.
  for (let i = 0; i < 3; i++) {
    const gap = (attempts[i]?.at ?? 0) - (waits[i]?.at ?? 0)
    t.ok(gap >= (delays[i] ?? 0) - 25, `attempt ${i + 1} started ${gap} ms after it was scheduled (${delays[i]} ms)`)
  }
  t.equal(client.status.status, 'connected')
  t.same(client.self, { userId: 'alice', ...down })
  t.same(client.queue, { size: 0, dropped: 0 })

  const metrics = await (await fetch(`${server.http}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text()
  t.match(metrics, /plaza_moves_total\{result="accepted"\} 1\n/, 'one move reached the new server: the latest')
  t.match(metrics, /plaza_moves_total\{result="not-adjacent"\} 0\n/)
  t.match(metrics, /plaza_joins_total\{kind="resume"\} 1\n/)
  const entry = JSON.parse(await redis.hget(`${prefix}space:restart:users`, 'alice') ?? '{}') as Record<string, unknown>
  await t.resolves(async () => {
    const deadline = Date.now() + 3000
    let stored = entry
    while ((stored.x !== down.x || stored.y !== down.y) && Date.now() < deadline) {
      await sleep(50)
      stored = JSON.parse(await redis.hget(`${prefix}space:restart:users`, 'alice') ?? '{}') as Record<string, unknown>
    }
    t.match(stored, { ...down, connected: true })
  })
  client.close()
  server.child.kill('SIGTERM')
  await server.exited
})

t.test('gives up after the last attempt, and rejects a join that cannot happen', async (t) => {
  const port = await freePort()
  const { client, statuses } = plaza(t, `ws://127.0.0.1:${port}`, 'alice', { reconnect: { ...FAST, maxAttempts: 3 } })
  const joining = client.join('anywhere')
  await t.rejects(joining, { name: 'PlazaClientError', code: 'gave-up' })
  t.match(client.status, { status: 'offline', reason: 'gave-up' })
  t.same(statuses.filter((s) => s.status === 'reconnecting' && (s.retryInMs ?? 0) > 0).map((s) => s.retryInMs), [100, 200, 400])
  const before = statuses.length
  await sleep(1000)
  t.equal(statuses.length, before, 'nothing more is tried on its own')
})

for (const [name, code, reason, setup] of [
  ['a bad token (4001)', 4001, 'bad-token', { token: 'not-a-jwt', space: 'known' }],
  ['an unknown space (4004)', 4004, 'unknown-space', { token: undefined, space: 'nowhere' }]
] as const) {
  t.test(`${name}: offline at once, no reconnection`, async (t) => {
    const { wsBase, defineSpace } = await startApp(t)
    await defineSpace({ id: 'known' })
    const { client, statuses } = plaza(t, wsBase, 'alice', setup.token === undefined ? {} : { token: setup.token })
    const closes: number[] = []
    client.on('close', (c) => { closes.push(c.code) })
    await t.rejects(client.join(setup.space), { code: reason, closeCode: code })
    await sleep(FAST.initialDelayMs * 4)
    t.same(statuses.map((s) => s.status), ['connecting', 'offline'])
    t.match(client.status, { status: 'offline', reason, code })
    t.same(closes, [code])
  })
}

t.test('replaced by a newer connection of the same user (4009): surfaced, not fought', async (t) => {
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'twice' })
  const { client: first, statuses } = plaza(t, wsBase, 'alice')
  await first.join('twice')
  const replaced = next(first, 'replaced')
  const { client: second } = plaza(t, wsBase, 'alice')
  const taken = await second.join('twice')
  t.equal(taken.resumed, true)
  t.equal((await replaced).code, 4009)
  await sleep(FAST.initialDelayMs * 4)
  t.match(first.status, { status: 'offline', reason: 'replaced' })
  t.same(statuses.map((s) => s.status), ['connecting', 'connected', 'offline'])
  t.equal(second.status.status, 'connected', 'the newer connection keeps the avatar')

  // Taking it back is the user's call.
  const back = next(second, 'replaced')
  first.reconnectNow()
  await next(first, 'space-joined')
  await back
})

t.test('close() and leave() are deliberate: peers see a drop or a leave, and nothing reconnects', async (t) => {
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'bye' })
  const bob = await TestClient.connect(`${wsBase}/ws`, 'plaza.v1')
  t.teardown(() => bob.close())
  await bob.join('bye', tokenFor('bob'))

  const { client: alice, statuses } = plaza(t, wsBase, 'alice')
  await alice.join('bye')
  await bob.next('user-joined-space')
  alice.close()
  t.same((await bob.next('user-disconnected')).payload, { userId: 'alice' })
  t.equal(alice.move(1, 1), 'dropped', 'a closed client sends nothing, and keeps nothing for later')

  const { client: carol, statuses: carolStatuses } = plaza(t, wsBase, 'carol')
  await carol.join('bye')
  await bob.next('user-joined-space')
  carol.leave()
  t.same((await bob.next('user-left')).payload, { userId: 'carol' })
  t.equal(carol.users.size, 0)

  await sleep(FAST.initialDelayMs * 4)
  t.same(statuses.map((s) => s.status), ['connecting', 'connected', 'closed'])
  t.same(carolStatuses.map((s) => s.status), ['connecting', 'connected', 'idle'])
  t.same(await bob.unread(), [], 'nobody came back')
})

t.test('join() of another space leaves the first on the same connection', async (t) => {
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'one' })
  await defineSpace({ id: 'two' })
  const bob = await TestClient.connect(`${wsBase}/ws`, 'plaza.v1')
  t.teardown(() => bob.close())
  await bob.join('one', tokenFor('bob'))
  const { client } = plaza(t, wsBase, 'alice')
  await client.join('one')
  t.equal(client.users.size, 1)
  await bob.next('user-joined-space')
  const joined = await client.join('two')
  t.equal(joined.space.id, 'two')
  t.equal(client.users.size, 0, 'nobody from the first space')
  t.same((await bob.next('user-left')).payload, { userId: 'alice' })
  t.equal(client.spaceId, 'two')
})

t.test('a join() superseded by another is rejected, and the later one gets its own space', async (t) => {
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'first' })
  await defineSpace({ id: 'second' })
  const { client } = plaza(t, wsBase, 'alice')
  const first = client.join('first')
  const second = client.join('second')
  await t.rejects(first, { code: 'switched' })
  t.equal((await second).space.id, 'second')
  t.equal(client.space?.id, 'second')
})

t.test('moves are queued only while the client is getting back into a space, and shown only once sent', async (t) => {
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'q', width: 20, height: 20 })
  const proxy = await startProxy(t, Number(new URL(wsBase).port))
  const { client } = plaza(t, `ws://127.0.0.1:${proxy.port}`, 'alice', { reconnect: { ...FAST, initialDelayMs: 60_000 } })
  t.equal(client.move(1, 1), 'dropped', 'before join(): no space to get into')
  const joined = await client.join('q')
  proxy.cut()
  await next(client, 'close')
  const { x, y } = joined.spawn
  t.equal(client.move(x + (x + 1 < 20 ? 1 : -1), y), 'queued')
  t.same(client.self, { userId: 'alice', x, y }, 'a queued move does not move you yet')
  t.equal(client.leave(), false, 'leaving while disconnected cannot tell the server')
  t.same(client.queue, { size: 0, dropped: 0 }, 'and what waited is gone')
  t.equal(client.move(x, y), 'dropped', 'after leave(): nothing to get back into')
  t.equal(client.status.status, 'idle')
})

t.test('a server that accepts the join and then closes is retried with growing delays, not every second forever', async (t) => {
  const { wsBase, defineSpace } = await startApp(t, { MAX_MESSAGES_PER_S: 5 })
  await defineSpace({ id: 'flood' })
  const { client, statuses } = plaza(t, wsBase, 'alice', { reconnect: { ...FAST, maxAttempts: 3, resetAfterMs: 2000 } })
  const closes: number[] = []
  client.on('close', (c) => { closes.push(c.code) })
  // A buggy app: floods on every join, so the server closes with 4029 each time.
  client.on('space-joined', () => { for (let i = 0; i < 10; i++) client.send('heartbeat', { timestamp: i }) })
  await client.join('flood')
  await next(client, 'status', (s) => s.status === 'offline', 5000)
  t.match(client.status, { status: 'offline', reason: 'gave-up' })
  t.same(closes, [4029, 4029, 4029, 4029])
  t.same(statuses.filter((s) => s.status === 'reconnecting' && (s.retryInMs ?? 0) > 0).map((s) => s.retryInMs), [100, 200, 400])
})

/** A browser's network events on Node's globalThis, for as long as the test runs. */
function fakeBrowserNetwork (test: Test) {
  const g = globalThis as unknown as Record<string, unknown>
  const listeners = new Map<string, Set<() => void>>()
  const navigator = { onLine: true }
  // Node 21 and later have a navigator of their own (a getter, without onLine): shadowed, then put back.
  const own = Object.getOwnPropertyDescriptor(g, 'navigator')
  Object.defineProperty(g, 'navigator', { value: navigator, configurable: true, writable: true })
  g.addEventListener = (type: string, fn: () => void) => { getOrCreate(listeners, type, () => new Set()).add(fn) }
  g.removeEventListener = (type: string, fn: () => void) => { listeners.get(type)?.delete(fn) }
  test.teardown(() => {
    delete g.navigator
    if (own !== undefined) Object.defineProperty(g, 'navigator', own)
    delete g.addEventListener
    delete g.removeEventListener
  })
  const fire = (type: string) => { for (const fn of [...listeners.get(type) ?? []]) fn() }
  return {
    listening: () => [...listeners.values()].reduce((n, set) => n + set.size, 0),
    goOffline: () => { navigator.onLine = false; fire('offline') },
    goOnline: () => { navigator.onLine = true; fire('online') }
  }
}

t.test('in a browser: offline drops the connection at once and spends no attempt; online comes back at once', async (t) => {
  const network = fakeBrowserNetwork(t)
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'net' })
  const { client, statuses } = plaza(t, wsBase, 'alice', { reconnect: { ...FAST, maxDelayMs: 60_000 } })
  const first = await client.join('net')
  t.equal(network.listening(), 2, 'online and offline')

  const closed = next(client, 'close')
  network.goOffline()
  t.same(await closed, { code: 4000, reason: 'offline', willReconnect: true })
  t.match(client.status, { status: 'reconnecting', waitingForNetwork: true, attempt: 1, retryInMs: 60_000 })
  const queued = client.move(first.spawn.x, first.spawn.y)
  t.equal(queued, 'queued')
  await sleep(FAST.initialDelayMs * 4)
  t.equal(statuses.at(-1)?.waitingForNetwork, true, 'no attempt while the browser has no network')

  network.goOnline()
  const back = await next(client, 'space-joined')
  t.equal(back.resumed, true)
  t.same(statuses.slice(-3).map((s) => [s.status, s.attempt ?? null, s.waitingForNetwork ?? false]),
    [['reconnecting', 1, true], ['reconnecting', 1, false], ['connected', null, false]], 'one attempt, counted once')

  // Gone offline during a countdown: the countdown stops, and the client waits for the network.
  const proxy = await startProxy(t, Number(new URL(wsBase).port))
  const { client: bob } = plaza(t, `ws://127.0.0.1:${proxy.port}`, 'bob', { reconnect: { ...FAST, initialDelayMs: 5000, maxDelayMs: 60_000 } })
  await bob.join('net')
  proxy.cut()
  await next(bob, 'status', (s) => s.status === 'reconnecting' && s.retryInMs === 5000)
  network.goOffline()
  t.match(bob.status, { status: 'reconnecting', waitingForNetwork: true, retryInMs: 60_000 })
  proxy.restore()
  network.goOnline()
  await next(bob, 'space-joined')

  client.close()
  bob.close()
  t.equal(network.listening(), 0, 'close() removes its listeners')
  t.same(client.queue, { size: 0, dropped: 0 })
})

t.test('a move queued before close() is not sent after a later join()', async (t) => {
  const { app, wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'stale', width: 20, height: 20 })
  const proxy = await startProxy(t, Number(new URL(wsBase).port))
  const { client } = plaza(t, `ws://127.0.0.1:${proxy.port}`, 'alice', { reconnect: { ...FAST, initialDelayMs: 60_000 } })
  const joined = await client.join('stale')
  proxy.cut()
  await next(client, 'close')
  const { x, y } = joined.spawn
  t.equal(client.move(x + (x + 1 < 20 ? 1 : -1), y), 'queued')
  client.close()
  proxy.restore()
  await client.join('stale')
  await sleep(200)
  t.equal(app.roomManager.counters.moves.accepted + app.roomManager.counters.moves['not-adjacent'], 0, 'nothing sent')
})

t.test('a join refused for good rejects with the reason, even when a status listener closes the client', async (t) => {
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'known' })
  const { client } = plaza(t, wsBase, 'alice', { token: 'not-a-jwt' })
  client.on('status', (s) => { if (s.status === 'offline') client.close() })
  await t.rejects(client.join('known'), { code: 'bad-token', closeCode: 4001 })
  t.equal(client.status.status, 'closed')
})
