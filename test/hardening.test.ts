/**
 * The review fixes, each proven end to end: a close reason cut on a character boundary (a frame used
 * to crash the server), invalid UTF-8 answered as a bad frame (PROTOCOL §3.1), a Redis flushed under
 * a running server written back (§6), a hung Redis that no longer stalls shutdown, a space DELETE
 * that needs Redis (503, nothing deleted), the token script run from a path with a space, `sub` only
 * where `userId` is absent, RS256/ES256 with JWT_PUBLIC_KEY (algorithms pinned), and clock tolerance.
 */
import { execFile, spawn } from 'node:child_process'
import { createHmac, generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { createSigner, createVerifier } from 'fast-jwt'
import { PrivateRedis } from './helpers/private-redis.js'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { buildApp } from '../server/app.js'
import { closeReason } from '../src/connection.js'
import { redisKeys } from '../src/keys.js'
import type { Logger } from '../src/logger.js'
import { RedisPresenceStore } from '../src/presence/redis-store.js'
import type { PresenceRecord } from '../src/presence/store.js'
import { ADMIN_TOKEN, JWT_SECRET, isolate, settle, testEnv } from './helpers/app.js'
import { TestClient, neighbour, type Frame } from './helpers/client.js'

type Dialect = 'plaza.v1' | 'metaverse'
interface Point { x: number, y: number }

const root = new URL('..', import.meta.url).pathname
const _execFileAsync = promisify(execFile)
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` }
/** Spaces defined here are 10x10 with no obstacles unless said otherwise. */
const WIDTH = 10

// ---------------------------------------------------------------------------------------------
// Local helpers

interface Plaza {
  app: FastifyInstance
  prefix: string
  wsBase: string
  httpBase: string
  /** Closes the app once, however often it is called (the teardown calls it too). */
  close: () => Promise<void>
  /** HS256 with the test secret (only for apps started with JWT_SECRET). */
  token: (claims: Record<string, unknown>) => string
  defineSpace: (id: string) => Promise<void>
}

/**
 * Starts Plaza on a free port with `env` on top of the usual test settings (`JWT_SECRET: null`
 * leaves the secret out); it is closed, and its keys in the shared Redis deleted, when the test ends.
 */
async function start (t: Test, env: Record<string, string | number | null> = {}): Promise<Plaza> {
  const isolation = isolate(t)
  const merged: Record<string, unknown> = { ...testEnv(isolation.prefix), ...env }
  for (const [key, value] of Object.entries(merged)) if (value === null) delete merged[key]
  const app = await buildApp(merged)
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= app.close()
    return closing
  }
  isolation.closers.push(close)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    app,
    prefix: isolation.prefix,
    wsBase: `ws://127.0.0.1:${port}`,
    httpBase: `http://127.0.0.1:${port}`,
    close,
    token: (claims) => app.jwt.sign(claims),
    defineSpace: async (id) => { await app.spaces.put({ id, width: WIDTH, height: WIDTH, obstacles: [] }) }
  }
}

/** Opens a client that is closed when `t` ends. */
async function open (t: Test, plaza: Plaza, protocol: Dialect): Promise<TestClient> {
  const client = await TestClient.connect(`${plaza.wsBase}/ws`, protocol)
  t.teardown(async () => {
    // A server that never answers the close handshake must not hang the teardown.
    await Promise.race([client.close(), sleep(3000, undefined, { ref: false })])
    client.socket.terminate()
  })
  return client
}

/** The close of `client`, or code -1 when it is still open after `ms` (so a test fails, not hangs). */
async function closeOf (client: TestClient, ms = 5000): Promise<{ code: number, reason: string }> {
  return await Promise.race([
    client.closed,
    sleep(ms, { code: -1, reason: `still open after ${ms} ms` }, { ref: false })
  ])
}

const isOpen = (client: TestClient): boolean => client.socket.readyState === client.socket.OPEN

/** plaza.v1: exactly an `error` {code, message, close} and then that close, nothing else. */
async function expectRefused (t: Test, client: TestClient, code: string, close: number): Promise<{ code: number, reason: string }> {
  const { payload } = await client.next('error', 5000)
  t.equal(payload.code, code, `error code is ${code}`)
  t.equal(payload.close, close, `error.close is ${close}`)
  const closed = await closeOf(client)
  t.equal(closed.code, close, `closed with ${close}`)
  t.same(await client.unread(0), [], 'nothing after the error')
  return closed
}

/** metaverse: closed with `close` and no frame at all. */
async function expectClosedSilently (t: Test, client: TestClient, close: number): Promise<{ code: number, reason: string }> {
  const closed = await closeOf(client)
  t.equal(closed.code, close, `closed with ${close}`)
  t.same(await client.unread(0), [], 'no frame was sent')
  return closed
}

/** plaza.v1 `alice` and metaverse `bob` joined to `spaceId`, each having read the other's arrival. */
async function joinedPair (t: Test, plaza: Plaza, spaceId: string): Promise<{ alice: TestClient, bob: TestClient, spawn: Point, bobSpawn: Point }> {
  const alice = await open(t, plaza, 'plaza.v1')
  const bob = await open(t, plaza, 'metaverse')
  const joined = await alice.join(spaceId, plaza.token({ userId: 'alice' }))
  const bobJoined = await bob.join(spaceId, plaza.token({ userId: 'bob' }))
  await alice.next('user-joined-space')
  return { alice, bob, spawn: joined.spawn as Point, bobSpawn: bobJoined.spawn as Point }
}

/** The raw text frame of a client message. */
const frame = (type: string, payload: Record<string, unknown> = {}): string => JSON.stringify({ type, payload })

/** Bytes that are not UTF-8 (0xff and 0xfe never occur in it), sent as a text frame. */
const INVALID_UTF8 = Buffer.from([0x7b, 0xff, 0xfe, 0x7d])
const sendInvalidUtf8 = (client: TestClient): void => { client.socket.send(INVALID_UTF8, { binary: false }) }

async function http (plaza: Plaza, method: string, path: string, body?: unknown): Promise<{ status: number, body: Record<string, unknown> | undefined }> {
  const response = await fetch(`${plaza.httpBase}${path}`, {
    method,
    headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) as Record<string, unknown> }
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const nowS = (): number => Math.floor(Date.now() / 1000)
/** HS256 with the test secret, claims exactly as given (no iat added). */
const signRaw = createSigner({ key: JWT_SECRET, noTimestamp: true })
/** An unsigned token (`alg: none`). */
const unsigned = (claims: Record<string, unknown>): string => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`
/** HS256 by hand with any secret, a PEM public key included (fast-jwt refuses to sign that). */
function hs256With (secret: string, claims: Record<string, unknown>): string {
  const signingInput = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`
}

// ---------------------------------------------------------------------------------------------
// 1. Close reasons are cut on a character boundary

t.test('closeReason keeps at most 123 bytes of UTF-8 and never cuts a character in two', async (t) => {
  const samples = [
    { name: '1-byte characters', char: 'a' },
    { name: '2-byte characters', char: 'é' },
    { name: '3-byte characters', char: '€' },
    { name: '4-byte characters (surrogate pairs)', char: '😀' }
  ]
  for (const { name, char } of samples) {
    // Every alignment of the characters against the 123-byte limit, behind 0 to 3 ASCII bytes.
    for (const lead of ['', 'x', 'xy', 'xyz']) {
      const message = lead + char.repeat(200)
      const reason = closeReason(message)
      const bytes = Buffer.byteLength(reason)
      t.ok(bytes <= 123, `${name}, ${lead.length} lead byte(s): ${bytes} bytes`)
      t.notOk(reason.includes('\uFFFD'), `${name}, ${lead.length} lead byte(s): no U+FFFD`)
      t.ok(message.startsWith(reason), 'a prefix of the message')
      t.ok(bytes > 123 - Buffer.byteLength(char), 'as long as a character boundary allows')
      t.equal(Buffer.from(reason).toString(), reason, 'round-trips through UTF-8')
    }
    const short = `short ${char}`
    t.equal(closeReason(short), short, `${name}: a short message is kept whole`)
  }
  t.equal(closeReason(''), '')
})

t.test('a type of 64 three-byte characters before join closes that socket with 1008, and the server goes on', async (t) => {
  const uncaught: unknown[] = []
  const monitor = (err: unknown): void => { uncaught.push(err) }
  process.on('uncaughtExceptionMonitor', monitor)
  t.teardown(() => { process.off('uncaughtExceptionMonitor', monitor) })
  const plaza = await start(t)
  await plaza.defineSpace('square')
  const longType = frame('€'.repeat(64))

  const v1 = await open(t, plaza, 'plaza.v1')
  v1.send(longType)
  const v1Closed = await expectRefused(t, v1, 'unknown-type', 1008)
  t.ok(Buffer.byteLength(v1Closed.reason) <= 123, 'the close reason fits the 123 bytes of RFC 6455')
  t.notOk(v1Closed.reason.includes('\uFFFD'), 'the close reason is not cut inside a character')

  const metaverse = await open(t, plaza, 'metaverse')
  metaverse.send(longType)
  await expectClosedSilently(t, metaverse, 1008)

  // The server is still up and serving: two users join and one of them moves.
  const { alice, bob, spawn } = await joinedPair(t, plaza, 'square')
  const step = neighbour(spawn.x, spawn.y, WIDTH)
  alice.send({ type: 'move', payload: step })
  t.same((await bob.next('movement')).payload, { userId: 'alice', ...step }, 'a move afterwards is seen by the peer')
  t.same(uncaught, [], 'no uncaught exception in the process')
})

// ---------------------------------------------------------------------------------------------
// 2. Invalid UTF-8 is a bad frame (PROTOCOL §3.1), not a 1007

t.test('invalid UTF-8 in a text frame before join closes with 1008', async (t) => {
  const plaza = await start(t)
  const v1 = await open(t, plaza, 'plaza.v1')
  sendInvalidUtf8(v1)
  await expectRefused(t, v1, 'invalid-message', 1008)

  const metaverse = await open(t, plaza, 'metaverse')
  sendInvalidUtf8(metaverse)
  await expectClosedSilently(t, metaverse, 1008)
})

t.test('invalid UTF-8 after join: plaza.v1 is told invalid-message, metaverse hears nothing, both stay, peers see nothing', async (t) => {
  const plaza = await start(t)
  await plaza.defineSpace('square')
  const { alice, bob, spawn: aliceAt, bobSpawn: bobAt } = await joinedPair(t, plaza, 'square')
  t.same(await bob.unread(0), [], 'premise: bob has nothing queued')

  sendInvalidUtf8(alice)
  const { payload } = await alice.next('error', 5000)
  t.same(Object.keys(payload).sort(), ['code', 'message'], 'an error without close: the socket stays open')
  t.equal(payload.code, 'invalid-message')
  sendInvalidUtf8(bob)
  t.same(await bob.quiet(), [], 'metaverse: no frame, and nothing of alice\'s bad frame either')
  t.same(await alice.quiet(), [], 'plaza.v1: nothing of bob\'s bad frame')
  t.ok(isOpen(alice) && isOpen(bob), 'both sockets are still open')

  const aliceStep = neighbour(aliceAt.x, aliceAt.y, WIDTH)
  alice.send({ type: 'move', payload: aliceStep })
  t.same((await bob.next('movement')).payload, { userId: 'alice', ...aliceStep }, 'plaza.v1: a move afterwards works')
  const bobStep = neighbour(bobAt.x, bobAt.y, WIDTH)
  bob.send({ type: 'move', payload: bobStep })
  t.same((await alice.next('user-moved')).payload, { userId: 'bob', ...bobStep }, 'metaverse: a move afterwards works')
  t.same(await alice.quiet(), [], 'nothing else reached alice')
  t.same(await bob.quiet(), [], 'nothing else reached bob')
})

// ---------------------------------------------------------------------------------------------
// 3. A Redis flushed under a running server is written back (PROTOCOL §6: Redis is additive)

type Entry = Record<string, unknown>

/** The user's entry in `space:{spaceId}:users` of `redis`, parsed; undefined when absent. */
async function entryOf (redis: Redis, prefix: string, spaceId: string, userId: string): Promise<Entry | undefined> {
  const value = await redis.hget(`${prefix}space:${spaceId}:users`, userId)
  return value === null ? undefined : JSON.parse(value) as Entry
}

t.test('Redis flushed without a reconnect: the space and the connected user are written back, and joins go on', async (t) => {
  const redis = await PrivateRedis.start(t)
  const plaza = await start(t, { REDIS_URL: redis.url, SERVER_HEARTBEAT_MS: 100 })
  const direct = redis.client(t)
  const spacesKey = `${plaza.prefix}plaza:spaces`
  await plaza.defineSpace('square')
  const definition = await direct.hget(spacesKey, 'square')
  t.ok(definition !== null, 'premise: the space definition is in Redis')

  const alice = await open(t, plaza, 'plaza.v1')
  const joined = await alice.join('square', plaza.token({ userId: 'alice' }))
  const spawn = joined.spawn as Point
  const at = neighbour(spawn.x, spawn.y, WIDTH)
  alice.send({ type: 'move', payload: at })
  const isAliceAt = (e: Entry | undefined): boolean => e?.connected === true && e.x === at.x && e.y === at.y
  const aliceEntry = (): Promise<Entry | undefined> => entryOf(direct, plaza.prefix, 'square', 'alice')
  t.ok(isAliceAt(await settle(aliceEntry, isAliceAt)), 'premise: alice is in Redis, connected, where she moved')

  await direct.flushall()
  t.equal(await direct.dbsize(), 0, 'premise: the private Redis is empty')
  const flushedAt = Date.now()

  const restored = await settle(() => direct.hget(spacesKey, 'square'), (v) => v !== null, 2000)
  t.equal(restored, definition, 'the space definition is back in plaza:spaces')
  const back = await settle(aliceEntry, isAliceAt, 2000)
  t.ok(isAliceAt(back), `alice is back in space:square:users, connected, at (${at.x}, ${at.y}): ${JSON.stringify(back)}`)
  t.ok(Date.now() - flushedAt < 2500, `written back within ${Date.now() - flushedAt} ms`)
  t.equal(alice.socket.readyState, alice.socket.OPEN, 'alice was never disconnected')

  // A newcomer can join the space (no 4004) and sees alice where she stands.
  const bob = await open(t, plaza, 'plaza.v1')
  bob.send({ type: 'join', payload: { spaceId: 'square', token: plaza.token({ userId: 'bob' }) } })
  const reply = await bob.next(undefined, 5000)
  t.equal(reply.type, 'space-joined', `bob joins the space: ${JSON.stringify(reply)}`)
  const users = (reply.payload.users ?? []) as Entry[]
  t.same(users.map(({ userId, x, y, connected }) => ({ userId, x, y, connected })), [{ userId: 'alice', ...at, connected: true }],
    'bob sees alice, connected, where she stands')
  t.same((await alice.next('user-joined-space')).payload.userId, 'bob', 'alice sees bob arrive')
})

t.test('Redis flushed, then the space looked up before the next heartbeat: the definition is not lost', async (t) => {
  const redis = await PrivateRedis.start(t)
  // The default heartbeat (2 s): the flush is noticed up to 2 s late.
  const plaza = await start(t, { REDIS_URL: redis.url })
  const direct = redis.client(t)
  await plaza.defineSpace('square')
  const alice = await open(t, plaza, 'plaza.v1')
  await alice.join('square', plaza.token({ userId: 'alice' }))

  await direct.flushall()
  // A lookup at once, as an operator's GET (or a newcomer's join) would make.
  await http(plaza, 'GET', '/admin/spaces/square')
  const restored = await settle(() => direct.hget(`${plaza.prefix}plaza:spaces`, 'square'), (v) => v !== null, 3000)
  t.ok(restored !== null, 'the space definition is back in plaza:spaces after the next heartbeat')
  t.equal((await http(plaza, 'GET', '/admin/spaces/square')).status, 200, 'and the space is served')
})

// ---------------------------------------------------------------------------------------------
// 4. A hung Redis does not stall shutdown

const silentLog: Logger = { level: 'silent', debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

t.test('with Redis hung, flushes asked for meanwhile share one follow-up, so close() waits for two at most', async (t) => {
  const redis = await PrivateRedis.start(t)
  // As the app's client: commands fail after 300 ms, none waits for a connection.
  const client = new Redis(redis.url, { lazyConnect: true, commandTimeout: 300, maxRetriesPerRequest: 1, enableOfflineQueue: false })
  client.on('error', () => { /* timeouts, on purpose */ })
  t.teardown(() => { client.disconnect() })
  await client.connect()
  const prefix = 'test:hung:'
  const store = new RedisPresenceStore({ redis: client, keys: redisKeys(prefix), log: silentLog, serverId: 'hung-1', ttlSeconds: 60, flushIntervalMs: 60_000 })
  const record = (x: number): PresenceRecord => ({ userId: 'alice', username: 'alice', x, y: 0, connectionId: 'c1', lastUpdated: Date.now(), lastActive: Date.now(), sessionStart: Date.now(), connected: true })

  let stopped = true
  redis.signal('SIGSTOP')
  t.teardown(() => { if (stopped) redis.signal('SIGCONT') })
  // 30 flushes asked for while every pipeline hangs until its 300 ms timeout (9 s, one after the other).
  const flushes: Array<Promise<boolean>> = []
  for (let x = 1; x <= 30; x++) {
    store.save('square', record(x))
    flushes.push(store.flush())
    await sleep(10)
  }
  const started = performance.now()
  const closing = store.close().then(() => performance.now() - started)
  const took = await Promise.race([closing, sleep(8000, Number.POSITIVE_INFINITY, { ref: false })])
  t.ok(took < 2000, `store.close() took ${Number.isFinite(took) ? `${Math.round(took)} ms` : 'over 8 s'}: the flush in flight and one follow-up (300 ms each), not 30`)
  t.same(await Promise.all(flushes), flushes.map(() => false), 'every flush says it did not reach Redis')

  redis.signal('SIGCONT')
  stopped = false
  await closing
  // Nothing was lost on the way: the latest state goes out once Redis answers.
  t.equal(await store.flush(), true, 'a flush after Redis is back succeeds')
  const entry = await entryOf(client, prefix, 'square', 'alice')
  t.equal(entry?.x, 30, 'the entry holds the latest position')
})

/**
 * End to end, with the pile-up of the store test above coming from the flush interval. Before the
 * fix, close() waited for about 2 s / 20 ms flushes of 300 ms each; with it, the presence store is
 * done in about 600 ms, and what still waits on Redis must not either.
 */
t.test('a hung Redis does not stall shutdown of the app', async (t) => {
  const redis = await PrivateRedis.start(t)
  // Presence flushes every 20 ms: while Redis hangs, each takes its whole 300 ms timeout.
  const plaza = await start(t, { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: 300, POSITION_FLUSH_MS: 20 })
  await plaza.defineSpace('square')
  const alice = await open(t, plaza, 'plaza.v1')
  const joined = await alice.join('square', plaza.token({ userId: 'alice' }))
  const spawn = joined.spawn as Point
  const step = neighbour(spawn.x, spawn.y, WIDTH)

  let stopped = true
  redis.signal('SIGSTOP')
  // Should an assertion throw while Redis is stopped (the Redis teardown's SIGKILL ends it anyway).
  t.teardown(() => { if (stopped) redis.signal('SIGCONT') })
  // Two seconds of moves back and forth (10 a second, under MAX_MOVES_PER_S): every flush hangs.
  const hungUntil = Date.now() + 2000
  for (let i = 0; Date.now() < hungUntil; i++) {
    alice.send({ type: 'move', payload: i % 2 === 0 ? step : spawn })
    await sleep(100)
  }
  t.same(await alice.quiet(), [], 'premise: every move was accepted')

  const started = performance.now()
  const closing = plaza.close().then(() => performance.now() - started)
  const took = await Promise.race([closing, sleep(5000, Number.POSITIVE_INFINITY, { ref: false })])
  t.ok(took < 5000, `app.close() finished within 5 s while Redis hung (${Number.isFinite(took) ? `${Math.round(took)} ms` : 'not done'})`)
  redis.signal('SIGCONT')
  stopped = false
  await closing
})

t.test('connections that never finish a request do not hold the shutdown (Node would wait 60 s for their headers)', async (t) => {
  const plaza = await start(t)
  const { port } = new URL(plaza.httpBase)
  const sockets = [connect(Number(port), '127.0.0.1'), connect(Number(port), '127.0.0.1')]
  t.teardown(() => { for (const socket of sockets) socket.destroy() })
  for (const socket of sockets) {
    socket.on('error', () => {})
    await once(socket, 'connect')
  }
  // One says nothing (a browser's preconnect, a TCP health check), one stops halfway through its headers.
  sockets[1]?.write('GET /healthz HTTP/1.1\r\nHost: plaza\r\n')
  await sleep(50)

  const started = performance.now()
  const closing = plaza.close().then(() => performance.now() - started)
  const took = await Promise.race([closing, sleep(5000, Number.POSITIVE_INFINITY, { ref: false })])
  t.ok(took < 5000, `app.close() finished within 5 s (${Number.isFinite(took) ? `${Math.round(took)} ms` : 'not done'})`)
  await Promise.all(sockets.map((socket) => socket.closed ? undefined : once(socket, 'close')))
  t.ok(sockets.every((socket) => socket.destroyed), 'and they were closed')
})

// ---------------------------------------------------------------------------------------------
// 5. Deleting a space needs Redis

t.test('DELETE of a space while Redis is down: 503 and nothing deleted; once Redis is back the space is there and DELETE works', async (t) => {
  const redis = await PrivateRedis.start(t)
  const plaza = await start(t, { REDIS_URL: redis.url })
  const put = await http(plaza, 'PUT', '/admin/spaces/square', { width: WIDTH, height: WIDTH })
  t.equal(put.status, 201, 'premise: the space is defined')
  const { alice, bob, spawn } = await joinedPair(t, plaza, 'square')

  await redis.stop('SIGKILL')
  const status = await settle(() => plaza.app.redis.status, (s) => s !== 'ready', 5000)
  t.not(status, 'ready', 'premise: the app sees Redis gone')
  const refused = await http(plaza, 'DELETE', '/admin/spaces/square')
  t.equal(refused.status, 503, 'DELETE → 503')
  t.match(refused.body?.message, /not deleted/, `the message says nothing was deleted: ${JSON.stringify(refused.body)}`)
  t.same(await alice.quiet(), [], 'alice is told nothing')
  t.same(await bob.quiet(), [], 'bob is told nothing')
  t.ok(isOpen(alice) && isOpen(bob), 'nobody was closed')
  const step = neighbour(spawn.x, spawn.y, WIDTH)
  alice.send({ type: 'move', payload: step })
  t.same((await bob.next('movement')).payload, { userId: 'alice', ...step }, 'alice can still move, and bob sees it')
  const stillThere = await http(plaza, 'GET', '/admin/spaces/square')
  t.equal(stillThere.status, 200, 'the space is still served from the cache while Redis is down')

  // A new, empty Redis on the same port.
  await redis.start()
  const back = await settle(() => plaza.app.redis.status, (s) => s === 'ready', 10_000)
  t.equal(back, 'ready', 'premise: the app is connected again')
  const got = await http(plaza, 'GET', '/admin/spaces/square')
  t.equal(got.status, 200, 'the space still exists once Redis is back')
  t.match(got.body, { id: 'square', width: WIDTH, height: WIDTH })

  const deleted = await http(plaza, 'DELETE', '/admin/spaces/square')
  t.equal(deleted.status, 204, 'DELETE now works')
  await expectRefused(t, alice, 'unknown-space', 4004)
  await expectClosedSilently(t, bob, 4004)
  t.equal((await http(plaza, 'GET', '/admin/spaces/square')).status, 404, 'and the space is gone')
})

// ---------------------------------------------------------------------------------------------
// 6. The token script runs from a path with a space

t.test('the token script mints a token when its own path contains a space', async (t) => {
  // A checkout of the script and what it imports under a directory whose name has spaces.
  const dir = mkdtempSync(join(tmpdir(), 'plaza token test '))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const entry of ['src', 'scripts', 'package.json']) cpSync(join(root, entry), join(dir, entry), { recursive: true })
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir')
  const script = join(dir, 'scripts', 'token.ts')
  t.match(script, / /, 'premise: the script path has a space')

  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script, '--user', 'alice'], {
    cwd: dir,
    env: { PATH: process.env.PATH, JWT_SECRET: 's', ADMIN_TOKEN: 'a' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  t.teardown(() => { clearTimeout(timer); if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, `exits 0${stderr === '' ? '' : `; stderr: ${stderr}`}`)
  const token = stdout.trim()
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `prints a JWT: ${JSON.stringify(stdout)}`)
  let claims: Record<string, unknown> | undefined
  try {
    claims = createVerifier({ key: 's', algorithms: ['HS256'] })(token) as Record<string, unknown>
  } catch (err) {
    t.fail(`the token verifies with JWT_SECRET: ${(err as Error).message}`)
  }
  t.equal(claims?.userId, 'alice', 'signed with JWT_SECRET, for userId alice')
})

// ---------------------------------------------------------------------------------------------
// 7-9. Tokens

/** Joins `spaceId` with `token` on a fresh plaza.v1 client; the first frame that came back. */
async function joinWith (t: Test, plaza: Plaza, spaceId: string, token: string): Promise<{ client: TestClient, reply: Frame }> {
  const client = await open(t, plaza, 'plaza.v1')
  client.send({ type: 'join', payload: { spaceId, token } })
  return { client, reply: await client.next(undefined, 5000) }
}

async function expectJoinedAs (t: Test, plaza: Plaza, spaceId: string, token: string, userId: string, what: string): Promise<void> {
  const { client, reply } = await joinWith(t, plaza, spaceId, token)
  t.equal(reply.type, 'space-joined', `${what}: joins (${JSON.stringify(reply)})`)
  t.equal(reply.payload.userId, userId, `${what}: joined as ${userId}`)
  await client.close()
}

async function expectBadToken (t: Test, plaza: Plaza, spaceId: string, token: string, what: string): Promise<void> {
  const { client, reply } = await joinWith(t, plaza, spaceId, token)
  t.same(reply, { type: 'error', payload: { code: 'bad-token', message: reply.payload.message, close: 4001 } }, `${what}: error bad-token`)
  t.equal((await closeOf(client)).code, 4001, `${what}: closed with 4001`)
}

t.test('identity: sub stands in only where userId is absent', async (t) => {
  const plaza = await start(t)
  await plaza.defineSpace('square')
  await expectBadToken(t, plaza, 'square', plaza.token({ userId: '', sub: 'bob' }), 'userId "" with sub bob')
  await expectBadToken(t, plaza, 'square', plaza.token({ userId: false, sub: 'bob' }), 'userId false with sub bob')
  await expectJoinedAs(t, plaza, 'square', plaza.token({ sub: 'bob' }), 'bob', 'only sub bob')
  await expectJoinedAs(t, plaza, 'square', plaza.token({ userId: 'carol', sub: 'bob' }), 'carol', 'userId carol with sub bob')
})

const pemPair = (type: 'rsa' | 'ec'): { publicKey: string, privateKey: string } => type === 'rsa'
  ? generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })
  : generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })

t.test('JWT_PUBLIC_KEY: tokens signed with the private key join; algorithm confusion and alg none do not', async (t) => {
  const cases = [
    { algorithm: 'RS256', keys: pemPair('rsa'), stranger: pemPair('rsa'), other: { algorithm: 'ES256', keys: pemPair('ec') } },
    { algorithm: 'ES256', keys: pemPair('ec'), stranger: pemPair('ec'), other: { algorithm: 'RS256', keys: pemPair('rsa') } }
  ] as const
  for (const { algorithm, keys, stranger, other } of cases) {
    await t.test(algorithm, async (t) => {
      const plaza = await start(t, { JWT_SECRET: null, JWT_PUBLIC_KEY: keys.publicKey })
      t.equal(plaza.app.config.jwtAlgorithm, algorithm, `premise: the server verifies ${algorithm}`)
      await plaza.defineSpace('square')
      const sign = (key: string, alg: string, claims: Record<string, unknown>): string =>
        createSigner({ key, algorithm: alg as 'RS256' | 'ES256' })(claims)
      await expectJoinedAs(t, plaza, 'square', sign(keys.privateKey, algorithm, { userId: 'alice' }), 'alice', `${algorithm} with the private key`)
      await expectBadToken(t, plaza, 'square', hs256With(keys.publicKey, { userId: 'mallory' }), 'HS256 with the public PEM as its secret (algorithm confusion)')
      await expectBadToken(t, plaza, 'square', unsigned({ userId: 'mallory' }), 'alg none')
      await expectBadToken(t, plaza, 'square', sign(stranger.privateKey, algorithm, { userId: 'mallory' }), `${algorithm} with another key`)
      await expectBadToken(t, plaza, 'square', sign(other.keys.privateKey, other.algorithm, { userId: 'mallory' }), `${other.algorithm} (not the pinned algorithm)`)
    })
  }
})

t.test('clock tolerance: none by default; JWT_CLOCK_TOLERANCE_S lets nbf and exp be off by that much', async (t) => {
  const early = (): string => signRaw({ userId: 'early', iat: nowS(), nbf: nowS() + 3 })
  const late = (): string => signRaw({ userId: 'late', iat: nowS() - 60, exp: nowS() - 3 })
  await t.test('default (0)', async (t) => {
    const plaza = await start(t)
    await plaza.defineSpace('square')
    await expectBadToken(t, plaza, 'square', early(), 'nbf 3 s in the future')
    await expectBadToken(t, plaza, 'square', late(), 'exp 3 s in the past')
  })
  await t.test('JWT_CLOCK_TOLERANCE_S 10', async (t) => {
    const plaza = await start(t, { JWT_CLOCK_TOLERANCE_S: 10 })
    await plaza.defineSpace('square')
    await expectJoinedAs(t, plaza, 'square', early(), 'early', 'nbf 3 s in the future')
    await expectJoinedAs(t, plaza, 'square', late(), 'late', 'exp 3 s in the past')
  })
})
