import fc from 'fast-check'
import t from 'tap'
import { WebSocket } from 'ws'
import { settle, startApp } from './helpers/app.js'
import { TestClient, type Frame } from './helpers/client.js'

/**
 * Property: whatever one joined client sends, the server stays up, answers only as PROTOCOL §3
 * allows (plaza.v1: `error` with a known code, `move-rejected`, `heartbeat`; a close only for a
 * reason PROTOCOL gives), and nobody else's state changes.
 *
 * The frames are drawn from a seed, printed at the start: `FUZZ_SEED=<seed> npx tap test/fuzz.test.ts`
 * replays the same runs (fast-check's failure message adds a `path` to the failing one).
 */
const seed = seedFromEnv(process.env.FUZZ_SEED)
t.comment(`fast-check seed ${seed} (FUZZ_SEED=${seed} replays this run)`)

function seedFromEnv (value: string | undefined): number {
  if (value === undefined || value === '') return Math.floor(Math.random() * 2 ** 31)
  const parsed = Number(value)
  if (!Number.isSafeInteger(parsed)) throw new Error(`FUZZ_SEED must be an integer, not ${JSON.stringify(value)}`)
  return parsed
}

/**
 * Every error code PROTOCOL §3.1 lets a client provoke, with the close it announces (null: the
 * socket stays open). After a `leave`, anything but a join is `not-joined`, and a join carrying a
 * bad token or space id (the only kind a fuzzer can forge) is refused with a close.
 */
const CLOSE_OF_ERROR: Record<string, number | null> = {
  'invalid-message': null,
  'unknown-type': null,
  'already-joined': null,
  'not-joined': null,
  'bad-token': 4001,
  'unknown-space': 4004,
  'rate-limited': 4029,
  'too-large': 1009
}
const ALLOWED_REPLIES = new Set(['error', 'move-rejected', 'heartbeat', 'space-joined'])
/** Closes the server may start: those its errors announce (a frame too large to read may have none). */
const SERVER_CLOSES = new Set(Object.values(CLOSE_OF_ERROR).filter((c) => c !== null))
/** Before a join, every refusal closes: 1008 for a protocol violation, or the join's own refusal. */
const CLOSE_OF_FIRST_FRAME_ERROR: Record<string, number> = {
  'invalid-message': 1008,
  'unknown-type': 1008,
  'not-joined': 1008,
  'bad-token': 4001,
  'unknown-space': 4004,
  'too-large': 1009
}

/**
 * Whether the frames a client received, and the close the server made (undefined: none), are what
 * PROTOCOL allows: known errors only, each announcing the close that follows it, at most one close.
 */
function repliesAllowed (frames: Frame[], serverClose: number | undefined): boolean {
  const announced: number[] = []
  for (const frame of frames) {
    if (!ALLOWED_REPLIES.has(frame.type)) return false
    if (frame.type !== 'error') continue
    const code = String(frame.payload.code)
    if (!Object.hasOwn(CLOSE_OF_ERROR, code)) return false
    if ((frame.payload.close ?? null) !== CLOSE_OF_ERROR[code]) return false
    if (frame.payload.close !== undefined) announced.push(Number(frame.payload.close))
  }
  if (serverClose === undefined) return announced.length === 0
  return SERVER_CLOSES.has(serverClose) && (announced.length === 0 ? serverClose === 1009 : announced.length === 1 && announced[0] === serverClose)
}

/** Frames shaped like Plaza's, with every field free to be anything hostile. */
const hostile = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.json({ maxDepth: 6 }),
  fc.record({
    type: fc.oneof(fc.constantFrom('join', 'move', 'leave', 'heartbeat', 'heartbeat-response', '__proto__', 'constructor', 'toString', ''), fc.string()),
    payload: fc.oneof(
      fc.anything({ maxDepth: 3 }),
      fc.record({
        x: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -0, 1e308), fc.string(), fc.constant(null)),
        y: fc.oneof(fc.integer({ min: -5, max: 15 }), fc.double(), fc.string(), fc.constant(null)),
        userId: fc.string(),
        spaceId: fc.string(),
        token: fc.oneof(fc.string(), fc.constant('eyJhbGciOiJub25lIn0.eyJ1c2VySWQiOiJib2IifQ.'))
      }, { requiredKeys: [] })
    )
  }, { requiredKeys: [] }).map((frame) => JSON.stringify(frame)),
  fc.constantFrom('{"__proto__":{"polluted":true},"type":"move","payload":{"x":1,"y":1}}', '[]', 'null', '""', '{}', '{"type":"move"}', '', ' ', '\u0000')
)

t.test('random and adversarial frames from a joined client never crash the server nor touch anyone else', async (t) => {
  const plaza = await startApp(t, { MAX_MESSAGES_PER_S: 100_000, MAX_MOVES_PER_S: 100_000 })
  await plaza.defineSpace({ id: 'arena', width: 10, height: 10 })
  const bystander = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => bystander.close())
  const where = (await bystander.join('arena', plaza.token({ userId: 'bystander' }))).spawn as { x: number, y: number }
  const entryBefore = await settle(async () => (await plaza.usersInRedis('arena')).bystander, (e) => e !== undefined)
  // Run first, whatever the seed: a join after a leave, refused for its token (4001) or its space id
  // (4004) once the token is good.
  const leave = JSON.stringify({ type: 'leave', payload: {} })
  const rejoin = (token: string) => JSON.stringify({ type: 'join', payload: { spaceId: '', token } })
  const examples: Array<[string[], boolean]> = [[[leave, rejoin('x')], false], [[leave, rejoin(plaza.token({ userId: 'fuzzer' }))], false]]

  await fc.assert(fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 25 }), fc.boolean(), async (frames, binary) => {
    const fuzzer = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
    let handled = false
    let serverClosed = false
    try {
      await fuzzer.join('arena', plaza.token({ userId: 'fuzzer' }))
      for (const frame of frames) fuzzer.socket.send(binary ? Buffer.from(frame) : frame, { binary })
      // A heartbeat after the barrage shows every frame was handled: answered, or refused as
      // not-joined when the barrage held a `leave`; or the server closed the socket.
      fuzzer.send({ type: 'heartbeat', payload: { timestamp: 42 } })
      handled = await Promise.race([
        fuzzer.closed.then(() => true),
        (async () => {
          for (;;) {
            const frame = await fuzzer.next(undefined, 3000)
            if (frame.type === 'heartbeat' && frame.payload.timestamp === 42) return true
            if (frame.type === 'error' && frame.payload.code === 'not-joined') return true
          }
        })().catch(() => fuzzer.socket.readyState === WebSocket.CLOSED)
      ])
      serverClosed = fuzzer.socket.readyState !== WebSocket.OPEN
    } finally {
      // Its own leave or drop is all the bystander may hear of it.
      await fuzzer.close()
    }
    // Closed now: every frame the server sent has arrived.
    const { code } = await fuzzer.closed
    return handled && repliesAllowed(fuzzer.received, serverClosed ? code : undefined)
  }), { numRuns: 60, seed, examples })

  const heard = (await bystander.quiet()).filter((f) => !(f.payload.userId === 'fuzzer' && ['user-joined-space', 'user-moved', 'user-disconnected', 'user-left'].includes(f.type)))
  t.same(heard, [], 'the bystander heard nothing but the fuzzer itself')
  const entryAfter = (await plaza.usersInRedis('arena')).bystander
  t.match(entryAfter, { x: where.x, y: where.y, connected: true, username: entryBefore?.username }, 'the bystander is where it was')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched')
  // The server still serves newcomers.
  const late = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.equal((await late.join('arena', plaza.token({ userId: 'late' }))).userId, 'late')
  await late.close()
})

t.test('any hostile first frame closes the socket with a code PROTOCOL gives, and the server carries on', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'arena' })
  await fc.assert(fc.asyncProperty(hostile, fc.boolean(), async (frame, binary) => {
    const client = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
    client.socket.send(binary ? Buffer.from(frame) : frame, { binary })
    const { code } = await client.closed
    return Object.values(CLOSE_OF_FIRST_FRAME_ERROR).includes(code) &&
      client.received.every((f) => f.type === 'error' && CLOSE_OF_FIRST_FRAME_ERROR[String(f.payload.code)] === code && f.payload.close === code)
  }), { numRuns: 80, seed })
  const late = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.equal((await late.join('arena', plaza.token({ userId: 'late' }))).userId, 'late', 'the server still serves')
  await late.close()
})
