import fc from 'fast-check'
import t from 'tap'
import { WebSocket } from 'ws'
import { settle, startApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

/**
 * Property: whatever one joined client sends, the server stays up, answers only as PROTOCOL §3
 * allows (plaza.v1: `error` with a known code, `move-rejected`, `heartbeat`; a close only for a
 * reason PROTOCOL gives), and nobody else's state changes.
 */

const ERROR_CODES = new Set(['invalid-message', 'unknown-type', 'already-joined', 'not-joined', 'rate-limited', 'too-large'])
const ALLOWED_REPLIES = new Set(['error', 'move-rejected', 'heartbeat', 'space-joined'])
/** Closes PROTOCOL allows a joined client to provoke: bad token or unknown space on a re-join, floods. */
const CLOSES = new Set([4001, 4004, 4029, 1009])

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

  await fc.assert(fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 25 }), fc.boolean(), async (frames, binary) => {
    const fuzzer = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
    try {
      await fuzzer.join('arena', plaza.token({ userId: 'fuzzer' }))
      for (const frame of frames) fuzzer.socket.send(binary ? Buffer.from(frame) : frame, { binary })
      // A heartbeat after the barrage shows every frame was handled: answered, or refused as
      // not-joined when the barrage held a `leave`. A socket may only have been closed for a reason
      // PROTOCOL gives (a bad token or unknown space in a re-join after a leave).
      fuzzer.send({ type: 'heartbeat', payload: { timestamp: 42 } })
      const settled = await Promise.race([
        fuzzer.closed.then(({ code }) => CLOSES.has(code)),
        (async () => {
          for (;;) {
            const frame = await fuzzer.next(undefined, 3000)
            if (frame.type === 'heartbeat' && frame.payload.timestamp === 42) return true
            if (frame.type === 'error' && frame.payload.code === 'not-joined') return true
          }
        })().catch(() => fuzzer.socket.readyState === WebSocket.CLOSED)
      ])
      if (!settled) return false
      for (const frame of fuzzer.received) {
        if (!ALLOWED_REPLIES.has(frame.type)) return false
        if (frame.type === 'error' && !ERROR_CODES.has(String(frame.payload.code))) return false
        if (frame.type === 'error' && frame.payload.close !== undefined && !CLOSES.has(Number(frame.payload.close))) return false
      }
      return true
    } finally {
      // Its own leave or drop is all the bystander may hear of it.
      await fuzzer.close()
    }
  }), { numRuns: 60 })

  const heard = (await bystander.unread(300)).filter((f) => !(f.payload.userId === 'fuzzer' && ['user-joined-space', 'user-moved', 'user-disconnected', 'user-left'].includes(f.type)))
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
    return [1008, 4001, 4004].includes(code) && client.received.every((f) => f.type === 'error' && f.payload.close === code)
  }), { numRuns: 80 })
  const late = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.equal((await late.join('arena', plaza.token({ userId: 'late' }))).userId, 'late', 'the server still serves')
  await late.close()
})
