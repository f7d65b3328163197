/**
 * Bad input from clients (PROTOCOL §2, §3, §3.1): malformed frames before and after `join`, hostile
 * tokens, unknown spaces, subprotocol negotiation, size and rate limits, the join timeout. Every
 * case asserts the exact frames and close codes, and that nobody else is affected.
 */
import { generateKeyPairSync } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import type { Test } from 'tap'
import { JWT_SECRET, settle, startApp, type TestApp } from './helpers/app.js'
import { TestClient, neighbour, type Frame } from './helpers/client.js'

type Dialect = 'plaza.v1' | 'metaverse'
interface Point { x: number, y: number }

/** Spaces made by defineSpace() default to 10x10 tiles. */
const WIDTH = 10

// ---------------------------------------------------------------------------------------------
// Local helpers

/** Opens a client that is closed when `t` ends. */
async function open (t: Test, plaza: TestApp, protocol?: string | string[], path = '/ws'): Promise<TestClient> {
  const client = await TestClient.connect(`${plaza.wsBase}${path}`, protocol)
  t.teardown(() => client.close())
  return client
}

/** The close of `client`, or code -1 when it is still open after `ms` (so a test fails, not hangs). */
async function closeOf (client: TestClient, ms = 5000): Promise<{ code: number, reason: string }> {
  return await Promise.race([
    client.closed,
    sleep(ms, { code: -1, reason: `still open after ${ms} ms` }, { ref: false })
  ])
}

/** The next frame is a plaza.v1 `error` with exactly `{code, message}` (+ `close` when given). */
async function expectError (t: Test, client: TestClient, code: string, close?: number): Promise<void> {
  const { payload } = await client.next('error')
  t.equal(payload.code, code, `error code is ${code}`)
  t.type(payload.message, 'string', 'error has a message')
  if (close === undefined) {
    t.same(Object.keys(payload).sort(), ['code', 'message'], 'error has no close: the socket stays open')
  } else {
    t.same(Object.keys(payload).sort(), ['close', 'code', 'message'], 'error names the close that follows')
    t.equal(payload.close, close, `error.close is ${close}`)
  }
}

/** plaza.v1: an `error` {code, close} and then the close with that code, and nothing else. */
async function expectRefused (t: Test, client: TestClient, code: string, close: number): Promise<void> {
  await expectError(t, client, code, close)
  t.equal((await closeOf(client)).code, close, `closed with ${close}`)
  t.same(await client.unread(0), [], 'nothing after the error')
}

/** metaverse: closed with `close` and no frame at all (metaverse never hears `error`). */
async function expectClosedSilently (t: Test, client: TestClient, close: number): Promise<void> {
  t.equal((await closeOf(client)).code, close, `closed with ${close}`)
  t.same(await client.unread(0), [], 'no frame was sent')
}

/** Sends a raw frame: a string as a text frame, a Buffer as a binary frame. */
function sendRaw (client: TestClient, frame: string | Buffer): void {
  client.socket.send(frame, { binary: typeof frame !== 'string' })
}

const isOpen = (client: TestClient): boolean => client.socket.readyState === client.socket.OPEN

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const nowS = (): number => Math.floor(Date.now() / 1000)
/** HS256 with the test secret, claims exactly as given (no iat added). */
const signRaw = createSigner({ key: JWT_SECRET, noTimestamp: true })
/** HS256 with the test secret, iat added as a JWT library would. */
const signWithIat = createSigner({ key: JWT_SECRET })

interface Pair {
  sender: TestClient
  peer: TestClient
  spaceId: string
  spawn: Point
  peerSpawn: Point
  senderToken: string
  peerToken: string
}

/**
 * A sender in `dialect` and a plaza.v1 peer, both joined to a fresh 10x10 space; the sender has
 * read the peer's arrival, the peer has nothing queued.
 */
async function joinedPair (t: Test, plaza: TestApp, dialect: Dialect, spaceId: string): Promise<Pair> {
  await plaza.defineSpace({ id: spaceId })
  const sender = await open(t, plaza, dialect)
  const peer = await open(t, plaza, 'plaza.v1')
  const senderToken = plaza.token({ userId: 'alice' })
  const peerToken = plaza.token({ userId: 'bob' })
  const joined = await sender.join(spaceId, senderToken)
  const peerJoined = await peer.join(spaceId, peerToken)
  await sender.next(dialect === 'metaverse' ? 'user-joined' : 'user-joined-space')
  return {
    sender,
    peer,
    spaceId,
    spawn: joined.spawn as Point,
    peerSpawn: peerJoined.spawn as Point,
    senderToken,
    peerToken
  }
}

/** A valid step by the pair's sender is applied and seen by the peer under the sender's userId. */
async function validMoveStillWorks (t: Test, pair: Pair): Promise<void> {
  t.ok(isOpen(pair.sender), 'the sender is still connected')
  if (!isOpen(pair.sender)) return // already failed; do not wait for a move that cannot come
  const step = neighbour(pair.spawn.x, pair.spawn.y, WIDTH)
  pair.sender.send({ type: 'move', payload: step })
  t.same((await pair.peer.next('user-moved')).payload, { userId: 'alice', ...step }, 'a valid move afterwards is seen by the peer')
  t.same(await pair.sender.quiet(), [], 'the move is not echoed')
}

type BadCode = 'invalid-message' | 'unknown-type' | 'already-joined'
interface BadFrame { name: string, frame: string | Buffer, code: BadCode }

/**
 * Frames a joined client may send that must not be acted on. Coordinates are a real neighbour of the
 * sender, so that a lenient parser (coercing "3" to 3, flooring 3.5) would visibly move it.
 */
function badFramesAfterJoin (pair: Pick<Pair, 'spaceId' | 'spawn' | 'senderToken' | 'peerToken'>): BadFrame[] {
  const { x, y } = neighbour(pair.spawn.x, pair.spawn.y, WIDTH)
  const move = (payload: string): string => `{"type":"move","payload":${payload}}`
  const invalid = 'invalid-message'
  return [
    { name: 'bad JSON', frame: `{"type":"move","payload":{"x":${x},"y":${y}}`, code: invalid },
    { name: 'an empty text frame', frame: '', code: invalid },
    { name: 'a binary frame holding a valid move', frame: Buffer.from(move(`{"x":${x},"y":${y}}`)), code: invalid },
    { name: 'an unknown type', frame: JSON.stringify({ type: 'teleport', payload: { x, y } }), code: 'unknown-type' },
    { name: 'a second join (same space, own token)', frame: JSON.stringify({ type: 'join', payload: { spaceId: pair.spaceId, token: pair.senderToken } }), code: 'already-joined' },
    { name: 'a second join with another user\'s token', frame: JSON.stringify({ type: 'join', payload: { spaceId: pair.spaceId, token: pair.peerToken } }), code: 'already-joined' },
    { name: 'a move without payload', frame: '{"type":"move"}', code: invalid },
    { name: 'a move with an empty payload', frame: move('{}'), code: invalid },
    { name: 'a move with x missing', frame: move(`{"y":${y}}`), code: invalid },
    { name: 'a move with y missing', frame: move(`{"x":${x}}`), code: invalid },
    { name: 'a move with null coordinates', frame: move('{"x":null,"y":null}'), code: invalid },
    { name: 'a move with string coordinates', frame: move(`{"x":"${x}","y":"${y}"}`), code: invalid },
    { name: 'a move with float coordinates', frame: move(`{"x":${x}.5,"y":${y}}`), code: invalid },
    { name: 'a move with a huge coordinate (1e300)', frame: move(`{"x":1e300,"y":${y}}`), code: invalid },
    { name: 'a move with "NaN" coordinates', frame: move('{"x":"NaN","y":"NaN"}'), code: invalid },
    { name: 'a move with "Infinity" coordinates', frame: move(`{"x":"Infinity","y":${y}}`), code: invalid },
    { name: 'a move with boolean coordinates', frame: move('{"x":true,"y":false}'), code: invalid },
    { name: 'a move with array coordinates', frame: move(`{"x":[${x}],"y":[${y}]}`), code: invalid },
    { name: 'a payload that is a number', frame: '{"type":"move","payload":5}', code: invalid },
    { name: 'a payload that is a string', frame: `{"type":"move","payload":"${x},${y}"}`, code: invalid },
    { name: 'a payload that is an array', frame: `{"type":"move","payload":[${x},${y}]}`, code: invalid },
    { name: 'a frame that is a JSON array', frame: `[${move(`{"x":${x},"y":${y}}`)}]`, code: invalid },
    { name: 'a frame that is a JSON string', frame: JSON.stringify(move(`{"x":${x},"y":${y}}`)), code: invalid },
    { name: 'a frame that is a number', frame: '42', code: invalid },
    { name: 'a frame that is null', frame: 'null', code: invalid },
    { name: 'a frame without type', frame: `{"payload":{"x":${x},"y":${y}}}`, code: invalid },
    { name: 'a frame whose type is not a string', frame: `{"type":["move"],"payload":{"x":${x},"y":${y}}}`, code: invalid }
  ]
}

/** Only for listing the cases' names and codes; the frames themselves are rebuilt per pair. */
const PROBE = { spaceId: 'probe', spawn: { x: 0, y: 0 }, senderToken: '', peerToken: '' }

// ---------------------------------------------------------------------------------------------
// Before a successful join

interface EarlyFrame { name: string, frame: string | Buffer, code: string, metaverse: boolean }

const earlyFrames = (token: string): EarlyFrame[] => [
  { name: 'bad JSON', frame: '{"type":"join","payload":', code: 'invalid-message', metaverse: true },
  { name: 'a move before join', frame: '{"type":"move","payload":{"x":1,"y":1}}', code: 'not-joined', metaverse: true },
  { name: 'a binary frame', frame: Buffer.from([0x00, 0xff, 0x10]), code: 'invalid-message', metaverse: true },
  { name: 'a binary frame holding a valid join', frame: Buffer.from(JSON.stringify({ type: 'join', payload: { spaceId: 'room', token } })), code: 'invalid-message', metaverse: true },
  { name: 'an unknown type', frame: '{"type":"hello","payload":{}}', code: 'unknown-type', metaverse: true },
  { name: 'a JSON array', frame: JSON.stringify([{ type: 'join', payload: { spaceId: 'room', token } }]), code: 'invalid-message', metaverse: true },
  { name: 'a heartbeat before join', frame: '{"type":"heartbeat","payload":{"timestamp":1}}', code: 'not-joined', metaverse: false },
  { name: 'a leave before join', frame: '{"type":"leave","payload":{}}', code: 'not-joined', metaverse: false }
]

t.test('plaza.v1: any frame other than join before a successful join gets an error and closes 1008', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'room' })
  const token = plaza.token({ userId: 'early' })
  for (const { name, frame, code } of earlyFrames(token)) {
    await t.test(`${name} → error ${code}, close 1008`, async (t) => {
      const client = await open(t, plaza, 'plaza.v1')
      sendRaw(client, frame)
      await expectRefused(t, client, code, 1008)
    })
  }
  t.same(await plaza.usersInRedis('room'), {}, 'nobody joined')
})

t.test('metaverse: any frame other than join before a successful join closes 1008 without a frame', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'room' })
  const token = plaza.token({ userId: 'early' })
  for (const { name, frame } of earlyFrames(token).filter((f) => f.metaverse)) {
    await t.test(`${name} → close 1008, no frame`, async (t) => {
      const client = await open(t, plaza, 'metaverse')
      sendRaw(client, frame)
      await expectClosedSilently(t, client, 1008)
    })
  }
  t.same(await plaza.usersInRedis('room'), {}, 'nobody joined')
})

// ---------------------------------------------------------------------------------------------
// After a successful join

t.test('plaza.v1: a bad frame after join gets an error without close; the socket stays usable', async (t) => {
  const plaza = await startApp(t)
  // Each case gets its own space and pair; the frames are built once the pair has joined.
  const cases = badFramesAfterJoin(PROBE)
  for (const [i, { name, code }] of cases.entries()) {
    await t.test(`${name} → error ${code}, socket stays open, a valid move still works`, async (t) => {
      const pair = await joinedPair(t, plaza, 'plaza.v1', `after-v1-${i}`)
      const bad = badFramesAfterJoin(pair)[i] as BadFrame
      sendRaw(pair.sender, bad.frame)
      await expectError(t, pair.sender, code)
      t.same(await pair.sender.quiet(), [], 'one error, nothing else')
      t.ok(isOpen(pair.sender), 'not closed')
      t.same(await pair.peer.quiet(), [], 'the peer heard nothing')
      await validMoveStillWorks(t, pair)
    })
  }
})

t.test('metaverse: a bad frame after join is silently ignored; the socket stays usable', async (t) => {
  const plaza = await startApp(t)
  const cases = badFramesAfterJoin(PROBE)
  for (const [i, { name }] of cases.entries()) {
    await t.test(`${name} → ignored, no frame, socket stays open, a valid move still works`, async (t) => {
      const pair = await joinedPair(t, plaza, 'metaverse', `after-mv-${i}`)
      const bad = badFramesAfterJoin(pair)[i] as BadFrame
      sendRaw(pair.sender, bad.frame)
      t.same(await pair.sender.quiet(), [], 'no frame arrives')
      t.ok(isOpen(pair.sender), 'not closed')
      t.same(await pair.peer.quiet(), [], 'the peer heard nothing')
      await validMoveStillWorks(t, pair)
    })
  }
})

t.test('a barrage of bad frames from one user changes nothing for anyone else, in memory or in Redis', async (t) => {
  const plaza = await startApp(t)
  const pair = await joinedPair(t, plaza, 'plaza.v1', 'barrage')
  // A metaverse user in the same space also sends garbage; a second plaza.v1 watcher hears everything.
  const carol = await open(t, plaza, 'metaverse')
  const carolJoined = await carol.join('barrage', plaza.token({ userId: 'carol' }))
  await pair.sender.next('user-joined-space')
  await pair.peer.next('user-joined-space')
  const carolSpawn = carolJoined.spawn as Point

  const expected = {
    alice: { x: pair.spawn.x, y: pair.spawn.y },
    bob: { x: pair.peerSpawn.x, y: pair.peerSpawn.y },
    carol: { x: carolSpawn.x, y: carolSpawn.y }
  }
  const positions = async (): Promise<Record<string, Point & { connected: unknown }>> => {
    const users = await plaza.usersInRedis('barrage')
    return Object.fromEntries(Object.entries(users).map(([id, u]) => [id, { x: u.x as number, y: u.y as number, connected: u.connected }]))
  }
  const settled = await settle(positions, (p) => Object.keys(p).length === 3)
  t.same(Object.keys(settled).sort(), ['alice', 'bob', 'carol'], 'everyone is in Redis before the barrage')

  // Bad frames naming bob: moves "for" bob with broken coordinates, joins with bob's token, etc.
  const bobStep = neighbour(pair.peerSpawn.x, pair.peerSpawn.y, WIDTH)
  const aimedAtBob = [
    JSON.stringify({ type: 'move', payload: { userId: 'bob', x: String(bobStep.x), y: String(bobStep.y) } }),
    JSON.stringify({ type: 'move', payload: { userId: 'bob', x: bobStep.x + 0.5, y: bobStep.y } }),
    JSON.stringify({ type: 'move', payload: { userId: 'bob' } }),
    JSON.stringify({ type: 'join', payload: { spaceId: 'barrage', token: pair.peerToken, userId: 'bob' } }),
    JSON.stringify({ type: 'leave', userId: 'bob', payload: 'bob' }),
    JSON.stringify({ type: 'user-left', payload: { userId: 'bob' } }),
    JSON.stringify({ type: 'user-moved', payload: { userId: 'bob', ...bobStep } })
  ]
  const garbage = [...badFramesAfterJoin(pair).map((b) => b.frame), ...aimedAtBob]
  for (const frame of garbage) sendRaw(pair.sender, frame)
  for (const frame of garbage) sendRaw(carol, frame)

  const errors: Frame[] = []
  for (let i = 0; i < garbage.length; i++) errors.push(await pair.sender.next('error'))
  t.equal(errors.length, garbage.length, 'the plaza.v1 sender got one error per bad frame')
  t.ok(errors.every((e) => !('close' in e.payload)), 'none of them announces a close')
  t.same(await pair.sender.quiet(), [], 'and nothing else')
  t.same(await carol.quiet(), [], 'the metaverse sender got nothing at all')
  t.same(await pair.peer.quiet(), [], 'the peer received nothing')
  t.ok(isOpen(pair.sender) && isOpen(carol) && isOpen(pair.peer), 'every socket is still open')

  const after = await positions()
  t.same(after, {
    alice: { ...expected.alice, connected: true },
    bob: { ...expected.bob, connected: true },
    carol: { ...expected.carol, connected: true }
  }, 'Redis still has everyone where they were, connected')
})

t.test('extra fields are ignored: a move naming another userId moves only the sender', async (t) => {
  const plaza = await startApp(t)
  const pair = await joinedPair(t, plaza, 'plaza.v1', 'extra')
  const step = neighbour(pair.spawn.x, pair.spawn.y, WIDTH)
  pair.sender.send({ type: 'move', userId: 'bob', payload: { ...step, userId: 'bob', username: 'Bob', connected: false } })
  t.same((await pair.peer.next('user-moved')).payload, { userId: 'alice', ...step }, 'the peer sees the sender move, under the sender\'s userId')
  t.same(await pair.sender.quiet(), [], 'no error, no echo')
  const users = await settle(() => plaza.usersInRedis('extra'), (u) => u.alice?.x === step.x && u.alice?.y === step.y)
  t.match(users.alice, { x: step.x, y: step.y, connected: true }, 'the sender moved in Redis')
  t.match(users.bob, { x: pair.peerSpawn.x, y: pair.peerSpawn.y, connected: true }, 'the named user did not move')
  t.not(users.bob?.username, 'Bob', 'nor was renamed')

  // And the same from the metaverse dialect: bob (metaverse) names alice.
  const mallory = await open(t, plaza, 'metaverse')
  const joined = await mallory.join('extra', plaza.token({ userId: 'mallory' }))
  await pair.peer.next('user-joined-space')
  await pair.sender.next('user-joined-space')
  const mSpawn = joined.spawn as Point
  const mStep = neighbour(mSpawn.x, mSpawn.y, WIDTH)
  mallory.send({ type: 'move', payload: { ...mStep, userId: 'alice' } })
  t.same((await pair.peer.next('user-moved')).payload, { userId: 'mallory', ...mStep })
  t.same((await pair.sender.next('user-moved')).payload, { userId: 'mallory', ...mStep })
  t.same(await mallory.quiet(), [], 'the metaverse mover hears nothing back')
})

t.test('extra fields in join are ignored: the identity comes from the token, never the payload', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'room' })
  const client = await open(t, plaza, 'plaza.v1')
  client.send({ type: 'join', userId: 'admin', payload: { spaceId: 'room', token: plaza.token({ userId: 'alice' }), userId: 'admin', username: 'root' } })
  const joined = (await client.next('space-joined')).payload
  t.equal(joined.userId, 'alice')
  const users = await settle(() => plaza.usersInRedis('room'), (u) => Object.keys(u).length > 0)
  t.same(Object.keys(users), ['alice'], 'only the token\'s user is in Redis')
  t.equal(users.alice?.username, 'alice', 'the username falls back to the userId, not the payload')
})

t.test('prototype-pollution keys are refused as invalid-message, pollute nothing and do not crash the server', async (t) => {
  const plaza = await startApp(t)
  const pair = await joinedPair(t, plaza, 'plaza.v1', 'proto')
  const { x, y } = neighbour(pair.spawn.x, pair.spawn.y, WIDTH)
  const invalid: string[] = [
    `{"type":"move","payload":{"__proto__":{"x":${x},"y":${y}}}}`,
    `{"type":"move","payload":{"constructor":{"prototype":{"x":${x},"y":${y}}}}}`,
    `{"type":"move","payload":{"constructor":{"x":${x},"y":${y}}}}`,
    `{"type":"move","__proto__":{"payload":{"x":${x},"y":${y}}}}`,
    `{"__proto__":{"type":"move","payload":{"x":${x},"y":${y}}}}`,
    `{"constructor":{"prototype":{"type":"move","payload":{"x":${x},"y":${y}}}}}`,
    `{"type":"join","payload":{"__proto__":{"spaceId":"proto","token":"${pair.senderToken}"}}}`
  ]
  for (const frame of invalid) {
    sendRaw(pair.sender, frame)
    await expectError(t, pair.sender, 'invalid-message')
  }
  for (const type of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    sendRaw(pair.sender, JSON.stringify({ type, payload: { x, y } }))
    await expectError(t, pair.sender, 'unknown-type')
  }
  t.same(await pair.sender.quiet(), [], 'one error per frame, nothing else')
  t.same(await pair.peer.quiet(), [], 'the peer saw no move')

  // The server runs in this process: had any key reached a prototype, plain objects here would show it.
  const probe: Record<string, unknown> = {}
  for (const key of ['x', 'y', 'type', 'payload', 'spaceId', 'token', 'prototype']) {
    t.equal(probe[key], undefined, `Object.prototype has no ${key}`)
  }

  // Before join, the same keys close the socket with 1008: a join hidden in __proto__ is no join.
  const early = await open(t, plaza, 'plaza.v1')
  sendRaw(early, `{"__proto__":{"type":"join","payload":{"spaceId":"proto","token":"${plaza.token({ userId: 'early' })}"}}}`)
  await expectRefused(t, early, 'invalid-message', 1008)

  await validMoveStillWorks(t, pair)
  const fresh = await open(t, plaza, 'plaza.v1')
  const joined = await fresh.join('proto', plaza.token({ userId: 'fresh' }))
  t.equal(joined.userId, 'fresh', 'the server is still up: a new client can join')
  const users = await settle(() => plaza.usersInRedis('proto'), (u) => Object.keys(u).length === 3)
  t.same(Object.keys(users).sort(), ['alice', 'bob', 'fresh'], 'the early socket never joined')
})

// ---------------------------------------------------------------------------------------------
// Size and rate limits, join timeout

/** A text frame of exactly `bytes` bytes that would be a valid heartbeat if it were read. */
function paddedHeartbeat (bytes: number): string {
  const head = '{"type":"heartbeat","payload":{"timestamp":1,"pad":"'
  const tail = '"}}'
  return head + 'x'.repeat(bytes - head.length - tail.length) + tail
}

t.test('a frame over MAX_MESSAGE_BYTES closes the socket with 1009, before and after join; others are unaffected', async (t) => {
  const plaza = await startApp(t, { MAX_MESSAGE_BYTES: 1024 })
  const big = paddedHeartbeat(5000)
  t.equal(Buffer.byteLength(big), 5000)
  const pair = await joinedPair(t, plaza, 'plaza.v1', 'big')
  const watcher = await open(t, plaza, 'metaverse')
  await watcher.join('big', plaza.token({ userId: 'watcher' }))
  await pair.sender.next('user-joined-space')
  await pair.peer.next('user-joined-space')

  // Under the limit, the same kind of frame is read normally.
  pair.sender.send(paddedHeartbeat(1000))
  t.equal((await pair.sender.next('heartbeat')).payload.timestamp, 1, 'a 1000-byte frame is handled')

  /** A too-large frame cannot be read; if anything precedes the close it can only be `too-large`. */
  const onlyTooLarge = (frames: Frame[]): boolean =>
    frames.every((f) => f.type === 'error' && f.payload.code === 'too-large' && f.payload.close === 1009)

  await t.test('before join', async (t) => {
    const early = await open(t, plaza, 'plaza.v1')
    sendRaw(early, big)
    t.equal((await closeOf(early)).code, 1009, 'closed with 1009')
    t.ok(onlyTooLarge(await early.unread(0)), 'no frame but a too-large error')
    const earlyMv = await open(t, plaza, 'metaverse')
    sendRaw(earlyMv, big)
    await expectClosedSilently(t, earlyMv, 1009)
    t.same(await pair.peer.quiet(), [], 'the joined peer heard nothing')
    t.same(await pair.sender.quiet(), [], 'nor the other joined user')
  })

  await t.test('after join', async (t) => {
    const victim = await open(t, plaza, 'plaza.v1')
    await victim.join('big', plaza.token({ userId: 'victim' }))
    t.same((await pair.peer.next('user-joined-space')).payload.userId, 'victim')
    t.same((await pair.sender.next('user-joined-space')).payload.userId, 'victim')
    t.same((await watcher.next('user-joined')).payload.userId, 'victim')
    sendRaw(victim, big)
    t.equal((await closeOf(victim)).code, 1009, 'closed with 1009')
    t.ok(onlyTooLarge(await victim.unread(0)), 'no frame but a too-large error')
    t.same((await pair.peer.next('user-disconnected')).payload, { userId: 'victim' }, 'peers see an ordinary drop')
    t.same((await watcher.next('user-left')).payload, { userId: 'victim' })
    await pair.sender.next('user-disconnected')
  })

  t.ok(isOpen(pair.sender) && isOpen(pair.peer) && isOpen(watcher), 'the others are still connected')
  await validMoveStillWorks(t, pair)
  const step = neighbour(pair.spawn.x, pair.spawn.y, WIDTH)
  t.same((await watcher.next('movement')).payload, { userId: 'alice', ...step })
})

t.test('more than MAX_MESSAGES_PER_S frames: plaza.v1 gets rate-limited and 4029, the user becomes a ghost', async (t) => {
  const plaza = await startApp(t, { MAX_MESSAGES_PER_S: 10 })
  const pair = await joinedPair(t, plaza, 'plaza.v1', 'flood')
  for (let i = 0; i < 30; i++) pair.sender.send({ type: 'heartbeat', payload: { timestamp: i } })
  const before: Frame[] = []
  for (;;) {
    const frame = await pair.sender.next()
    if (frame.type === 'error') {
      t.equal(frame.payload.code, 'rate-limited')
      t.equal(frame.payload.close, 4029)
      t.type(frame.payload.message, 'string')
      break
    }
    before.push(frame)
  }
  t.ok(before.length <= 10, `at most the first frames of the window were answered (${before.length})`)
  t.ok(before.every((f) => f.type === 'heartbeat'), 'and only with heartbeats')
  t.equal((await closeOf(pair.sender)).code, 4029, 'closed with 4029')
  t.same(await pair.sender.unread(0), [], 'nothing after the error')
  t.same((await pair.peer.next('user-disconnected')).payload, { userId: 'alice' }, 'the peer sees a drop')
  const users = await settle(() => plaza.usersInRedis('flood'), (u) => u.alice?.connected === false)
  t.match(users.alice, { x: pair.spawn.x, y: pair.spawn.y, connected: false }, 'a ghost where it stood')
  t.ok(isOpen(pair.peer), 'the peer is unaffected')

  const mv = await open(t, plaza, 'metaverse')
  await mv.join('flood', plaza.token({ userId: 'carol' }))
  await pair.peer.next('user-joined-space')
  for (let i = 0; i < 30; i++) mv.send({ type: 'heartbeat', payload: { timestamp: i } })
  await expectClosedSilently(t, mv, 4029)
  t.same((await pair.peer.next('user-disconnected')).payload, { userId: 'carol' }, 'a metaverse flooder is dropped too')
})

t.test('a socket that never joins is closed with 1008 after JOIN_TIMEOUT_MS', async (t) => {
  const plaza = await startApp(t, { JOIN_TIMEOUT_MS: 500 })
  await plaza.defineSpace({ id: 'room' })
  const idle = await open(t, plaza, 'plaza.v1')
  const idleMv = await open(t, plaza, 'metaverse')
  const joined = await open(t, plaza, 'plaza.v1')
  await joined.join('room', plaza.token({ userId: 'prompt' }))
  // Opened after `joined`: when its timeout has closed it, `joined`'s would have fired too.
  const witness = await open(t, plaza, 'plaza.v1')
  await expectRefused(t, idle, 'not-joined', 1008)
  await expectClosedSilently(t, idleMv, 1008)
  await expectRefused(t, witness, 'not-joined', 1008)
  t.ok(isOpen(joined), 'a socket that joined in time is not closed')
  t.same(await joined.quiet(), [], 'and is still served')
})

t.test('after a leave the join timeout starts again: a socket that does not join again is closed with 1008', async (t) => {
  const plaza = await startApp(t, { JOIN_TIMEOUT_MS: 500 })
  await plaza.defineSpace({ id: 'room' })
  const v1 = await open(t, plaza, 'plaza.v1')
  const mv = await open(t, plaza, 'metaverse')
  await v1.join('room', plaza.token({ userId: 'alice' }))
  await mv.join('room', plaza.token({ userId: 'bob' }))
  await v1.next('user-joined-space')
  // Bob (metaverse) leaves first, so that he is not told of alice's leave.
  const bobLeft = Date.now()
  mv.send({ type: 'leave', payload: {} })
  t.same((await v1.next('user-left')).payload, { userId: 'bob' })
  const aliceLeft = Date.now()
  v1.send({ type: 'leave', payload: {} })
  v1.send({ type: 'heartbeat', payload: { timestamp: 1 } })
  t.same((await v1.next()).payload, { code: 'not-joined', message: '"heartbeat" before "join"' }, 'premise: left (a heartbeat is refused), still open')
  await expectClosedSilently(t, mv, 1008)
  const bobAfter = Date.now() - bobLeft
  await expectRefused(t, v1, 'not-joined', 1008)
  const aliceAfter = Date.now() - aliceLeft
  // Timers never fire early (10 ms spared for the clocks' rounding): sooner, something else closed it.
  t.ok(bobAfter >= 490 && aliceAfter >= 490, `each closed a full timeout after its leave (${bobAfter}, ${aliceAfter} ms)`)
})

// ---------------------------------------------------------------------------------------------
// Tokens

t.test('plaza.v1 join with a bad token gets error bad-token and close 4001', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'room' })
  const valid = plaza.token({ userId: 'mallory' })
  const [vh, , vs] = valid.split('.')
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const rs256 = createSigner({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'RS256' })
  const cases: Array<{ name: string, token?: unknown }> = [
    { name: 'missing token' },
    { name: 'token null', token: null },
    { name: 'token a number', token: 12345 },
    { name: 'token an object of claims', token: { userId: 'mallory' } },
    { name: 'token an array', token: [valid] },
    { name: 'empty string', token: '' },
    { name: 'garbage string', token: 'not-a-jwt' },
    { name: 'three garbage segments', token: 'a.b.c' },
    { name: 'wrong signature (other secret)', token: createSigner({ key: 'other-secret' })({ userId: 'mallory' }) },
    { name: 'tampered payload with the original signature', token: `${vh}.${b64url({ userId: 'admin', iat: nowS() })}.${vs}` },
    { name: 'alg none', token: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ userId: 'mallory', iat: nowS() })}.` },
    { name: 'alg none carrying a valid signature', token: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ userId: 'mallory' })}.${vs}` },
    { name: 'HS512 with the right secret (the algorithm is pinned)', token: createSigner({ key: JWT_SECRET, algorithm: 'HS512' })({ userId: 'mallory' }) },
    { name: 'RS256 signed with a random RSA key (an algorithm the server does not accept)', token: rs256({ userId: 'mallory' }) },
    { name: 'expired (exp 60 s ago)', token: signRaw({ userId: 'mallory', iat: nowS() - 120, exp: nowS() - 60 }) },
    { name: 'nbf 60 s in the future', token: signRaw({ userId: 'mallory', iat: nowS(), nbf: nowS() + 60 }) },
    { name: 'no userId and no sub', token: signWithIat({ username: 'Nobody', role: 'user' }) },
    { name: 'an empty userId and no sub', token: signWithIat({ userId: '' }) },
    { name: 'a userId that is an object', token: signWithIat({ userId: { id: 'mallory' } }) }
  ]
  for (const { name, token } of cases) {
    await t.test(`${name} → error bad-token, close 4001`, async (t) => {
      const client = await open(t, plaza, 'plaza.v1')
      client.send({ type: 'join', payload: token === undefined ? { spaceId: 'room' } : { spaceId: 'room', token } })
      await expectRefused(t, client, 'bad-token', 4001)
    })
  }
  await t.test('metaverse: a bad token closes 4001 without a frame', async (t) => {
    const client = await open(t, plaza, 'metaverse')
    client.send({ type: 'join', payload: { spaceId: 'room', token: createSigner({ key: 'other-secret' })({ userId: 'mallory' }) } })
    await expectClosedSilently(t, client, 4001)
  })
  t.same(await plaza.usersInRedis('room'), {}, 'nobody got in')
})

t.test('tokens that must be accepted', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'room' })
  const watcher = await open(t, plaza, 'plaza.v1')
  await watcher.join('room', plaza.token({ userId: 'watcher' }))

  const accepted = async (t: Test, token: string, userId: string, username: string, protocol: Dialect = 'plaza.v1', path = '/ws'): Promise<void> => {
    const client = await open(t, plaza, protocol, path)
    const joined = await client.join('room', token)
    t.equal(joined.userId, userId, `joined as ${JSON.stringify(userId)}`)
    const spawn = joined.spawn as Point
    t.same((await watcher.next('user-joined-space')).payload, { userId, username, x: spawn.x, y: spawn.y }, 'peers see it with the right name')
    const users = await settle(() => plaza.usersInRedis('room'), (u) => u[userId] !== undefined)
    t.match(users[userId], { username, x: spawn.x, y: spawn.y }, 'in Redis under that userId')
    // Leave the watcher's queue empty for the next case.
    await client.close()
    t.same((await watcher.next('user-disconnected')).payload, { userId })
  }

  await t.test('a token without exp', async (t) => {
    await accepted(t, signRaw({ userId: 'noexp' }), 'noexp', 'noexp')
  })
  await t.test('a token with sub only: userId = sub', async (t) => {
    await accepted(t, signWithIat({ sub: 'subject-1' }), 'subject-1', 'subject-1')
  })
  await t.test('userId wins over sub when both are present', async (t) => {
    await accepted(t, signWithIat({ userId: 'uid', sub: 'other-sub', username: 'Uid' }), 'uid', 'Uid')
  })
  await t.test('a numeric userId is sent as its decimal string', async (t) => {
    await accepted(t, signWithIat({ userId: 42 }), '42', '42')
  })
  await t.test('a token with a future exp', async (t) => {
    await accepted(t, signWithIat({ userId: 'fresh', exp: nowS() + 300 }), 'fresh', 'fresh')
  })
  await t.test('a 2d-metaverse token {userId, role} over the metaverse dialect at /; username falls back to the userId', async (t) => {
    await accepted(t, signWithIat({ userId: 'u1', role: 'admin' }), 'u1', 'u1', 'metaverse', '/')
  })
})

t.test('with JWT_MAX_AGE_S, tokens without exp or older than the max age are refused', async (t) => {
  const plaza = await startApp(t, { JWT_MAX_AGE_S: 60 })
  await plaza.defineSpace({ id: 'room' })
  const refused: Array<{ name: string, token: string }> = [
    { name: 'a token without exp', token: signWithIat({ userId: 'noexp' }) },
    { name: 'iat 2 minutes ago with a future exp', token: signRaw({ userId: 'old', iat: nowS() - 120, exp: nowS() + 600 }) }
  ]
  for (const { name, token } of refused) {
    await t.test(`${name} → error bad-token, close 4001`, async (t) => {
      const client = await open(t, plaza, 'plaza.v1')
      client.send({ type: 'join', payload: { spaceId: 'room', token } })
      await expectRefused(t, client, 'bad-token', 4001)
    })
  }
  await t.test('a fresh token with exp is still accepted', async (t) => {
    const client = await open(t, plaza, 'plaza.v1')
    const joined = await client.join('room', signWithIat({ userId: 'fresh', exp: nowS() + 30 }))
    t.equal(joined.userId, 'fresh')
  })
})

// ---------------------------------------------------------------------------------------------
// Spaces

t.test('joining an unknown or invalid space id gets error unknown-space and close 4004', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'room' })
  const ids = ['nowhere', '../x', 'a'.repeat(200), 'a'.repeat(129), '', 'room/../room', 'room ', 'space:room:users']
  for (const spaceId of ids) {
    await t.test(`${JSON.stringify(spaceId.length > 40 ? `${spaceId.slice(0, 10)}…(${spaceId.length} chars)` : spaceId)} → error unknown-space, close 4004`, async (t) => {
      const client = await open(t, plaza, 'plaza.v1')
      client.send({ type: 'join', payload: { spaceId, token: plaza.token({ userId: 'lost' }) } })
      await expectRefused(t, client, 'unknown-space', 4004)
    })
  }
  await t.test('metaverse: an unknown space closes 4004 without a frame', async (t) => {
    const client = await open(t, plaza, 'metaverse')
    client.send({ type: 'join', payload: { spaceId: 'nowhere', token: plaza.token({ userId: 'lost' }) } })
    await expectClosedSilently(t, client, 4004)
  })
  await t.test('the defined space still works', async (t) => {
    const client = await open(t, plaza, 'plaza.v1')
    t.equal((await client.join('room', plaza.token({ userId: 'found' }))).userId, 'found')
  })
})

// ---------------------------------------------------------------------------------------------
// Subprotocols and HTTP

t.test('subprotocol negotiation', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'room' })
  const plazaKeys = ['chat', 'resumed', 'space', 'spawn', 'userId', 'users']
  const metaverseKeys = ['spawn', 'userId', 'users']
  let n = 0
  const joinKeys = async (client: TestClient): Promise<string[]> =>
    Object.keys(await client.join('room', plaza.token({ userId: `user-${++n}` }))).sort()

  await t.test('only unknown subprotocols are refused at the upgrade with 400', async (t) => {
    await t.rejects(TestClient.connect(`${plaza.wsBase}/ws`, 'chat'), /upgrade refused: 400/)
    await t.rejects(TestClient.connect(`${plaza.wsBase}/ws`, ['chat', 'superchat']), /upgrade refused: 400/)
    await t.rejects(TestClient.connect(`${plaza.wsBase}/`, 'chat'), /upgrade refused: 400/, 'at / too')
  })
  await t.test('offering [chat, metaverse] selects metaverse', async (t) => {
    const client = await open(t, plaza, ['chat', 'metaverse'])
    t.equal(client.socket.protocol, 'metaverse')
    t.same(await joinKeys(client), metaverseKeys)
  })
  await t.test('offering [plaza.v1, metaverse] selects plaza.v1', async (t) => {
    const client = await open(t, plaza, ['plaza.v1', 'metaverse'])
    t.equal(client.socket.protocol, 'plaza.v1')
    t.same(await joinKeys(client), plazaKeys)
  })
  await t.test('offering [metaverse, plaza.v1] selects metaverse: the first known wins', async (t) => {
    const client = await open(t, plaza, ['metaverse', 'plaza.v1'])
    t.equal(client.socket.protocol, 'metaverse')
    t.same(await joinKeys(client), metaverseKeys)
  })
  await t.test('no subprotocol → the default dialect, plaza.v1', async (t) => {
    const client = await open(t, plaza)
    t.equal(client.socket.protocol, '')
    t.same(await joinKeys(client), plazaKeys)
  })
})

t.test('with WS_DIALECT=metaverse, a client without subprotocol speaks metaverse', async (t) => {
  const plaza = await startApp(t, { WS_DIALECT: 'metaverse' })
  await plaza.defineSpace({ id: 'room' })
  const bare = await open(t, plaza, undefined, '/')
  const joined = await bare.join('room', plaza.token({ userId: 'bare' }))
  t.same(Object.keys(joined).sort(), ['spawn', 'userId', 'users'], 'metaverse space-joined: no resumed, no space')
  t.notOk('resumed' in joined)
  bare.send({ type: 'bogus', payload: {} })
  t.same(await bare.quiet(), [], 'no error: metaverse never hears one')
  t.ok(isOpen(bare))
  const explicit = await open(t, plaza, 'plaza.v1')
  const explicitJoined = await explicit.join('room', plaza.token({ userId: 'explicit' }))
  t.equal(explicitJoined.resumed, false, 'offering plaza.v1 still gets plaza.v1')
})

t.test('plain HTTP: GET /ws answers 426, GET / answers the JSON service description', async (t) => {
  const plaza = await startApp(t)
  const ws = await fetch(`${plaza.httpBase}/ws`)
  t.equal(ws.status, 426)
  await ws.arrayBuffer()
  const root = await fetch(`${plaza.httpBase}/`)
  t.equal(root.status, 200)
  t.match(root.headers.get('content-type'), /application\/json/)
  const body = await root.json() as Record<string, unknown>
  t.equal(body.name, 'plaza')
})
