/**
 * Frames over MAX_MESSAGE_BYTES (PROTOCOL §3, §3.1): the socket always ends with a 1009 close frame
 * that the client reads, also while the client is still writing the rest of its frame (a reset there
 * used to lose the close frame: 1006 on the client's side), plaza.v1 is told `too-large` first, and
 * the server never buffers what it refused, however much of it the client keeps sending.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { isolate, settle, startApp, testEnv, type TestApp } from './helpers/app.js'
import { TestClient, type Frame } from './helpers/client.js'
import { startServer } from './helpers/process.js'

type Dialect = 'plaza.v1' | 'metaverse'

/** The issue asks for 100 runs of each case; a few at a time keep the file well under a minute. */
const RUNS = 100
const CONCURRENCY = 8
const MAX_MESSAGE_BYTES = 4096

const MiB = 1024 * 1024

/** A text frame of exactly `bytes` bytes that would be a valid heartbeat if it were read. */
function paddedHeartbeat (bytes: number): string {
  const head = '{"type":"heartbeat","payload":{"timestamp":1,"pad":"'
  const tail = '"}}'
  return head + 'x'.repeat(bytes - head.length - tail.length) + tail
}

interface Outcome {
  code: number
  /** Frames that arrived after the oversized one was sent. */
  after: Frame[]
}

/** `run(i)` for i in [0, runs), at most `concurrency` at once. */
async function inParallel<T> (runs: number, concurrency: number, run: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < runs) {
      const i = next++
      results[i] = await run(i)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return results
}

/** Sends `frame` (after a join into `spaceId` when given) and waits for the close; -1 when none came. */
async function sendOversized (plaza: TestApp, dialect: Dialect, frame: string, join?: { spaceId: string, userId: string }): Promise<Outcome> {
  const client = await TestClient.connect(`${plaza.wsBase}/ws`, dialect)
  if (join !== undefined) await client.join(join.spaceId, plaza.token({ userId: join.userId }))
  const from = client.received.length
  client.socket.send(frame)
  const closed = await Promise.race([client.closed, sleep(5000, { code: -1, reason: 'still open' }, { ref: false })])
  if (closed.code === -1) client.socket.terminate()
  return { code: closed.code, after: client.received.slice(from) }
}

/** How many runs ended with each close code, e.g. `{ 1009: 100 }`. */
function codeCounts (outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const { code } of outcomes) counts[code] = (counts[code] ?? 0) + 1
  return counts
}

const isTooLarge = (frame: Frame | undefined): boolean =>
  frame?.type === 'error' && frame.payload.code === 'too-large' && frame.payload.close === 1009 &&
  typeof frame.payload.message === 'string' && Object.keys(frame.payload).length === 3

t.test('an oversized frame always ends with a 1009 close the client reads, 100 runs per case', async (t) => {
  const plaza = await startApp(t, { MAX_MESSAGE_BYTES, MAX_CONNECTIONS_PER_IP: 1000, MAX_MESSAGES_PER_S: 1000 })
  await plaza.defineSpace({ id: 'oversize-mv', width: 40, height: 40 })
  await plaza.defineSpace({ id: 'oversize-v1', width: 40, height: 40 })
  const mebibyte = paddedHeartbeat(MiB)
  const twentyKB = paddedHeartbeat(20_000)

  await t.test('a 1 MiB frame before join, plaza.v1: `too-large` (close 1009), then close 1009', async (t) => {
    const outcomes = await inParallel(RUNS, CONCURRENCY, async () => await sendOversized(plaza, 'plaza.v1', mebibyte))
    t.same(codeCounts(outcomes), { 1009: RUNS }, 'every run closed with 1009')
    t.equal(outcomes.filter((o) => o.after.length !== 1 || !isTooLarge(o.after[0])).length, 0,
      'every run got exactly one frame, error {code: too-large, message, close: 1009}')
  })

  await t.test('a 1 MiB frame before join, metaverse: close 1009 and no frame', async (t) => {
    const outcomes = await inParallel(RUNS, CONCURRENCY, async () => await sendOversized(plaza, 'metaverse', mebibyte))
    t.same(codeCounts(outcomes), { 1009: RUNS }, 'every run closed with 1009')
    t.equal(outcomes.filter((o) => o.after.length > 0).length, 0, 'no run got a frame')
  })

  await t.test('a 20 KB frame after join, metaverse: close 1009 and no error frame', async (t) => {
    const outcomes = await inParallel(RUNS, CONCURRENCY, async (i) =>
      await sendOversized(plaza, 'metaverse', twentyKB, { spaceId: 'oversize-mv', userId: `mv-${i}` }))
    t.same(codeCounts(outcomes), { 1009: RUNS }, 'every run closed with 1009')
    // Others joining and dropping at the same time may be heard of; an error never.
    t.equal(outcomes.filter((o) => o.after.some((f) => f.type === 'error')).length, 0, 'no run got an error frame')
  })

  await t.test('a 20 KB frame after join, plaza.v1: `too-large` (close 1009) is the last frame, then close 1009', async (t) => {
    const outcomes = await inParallel(RUNS, CONCURRENCY, async (i) =>
      await sendOversized(plaza, 'plaza.v1', twentyKB, { spaceId: 'oversize-v1', userId: `v1-${i}` }))
    t.same(codeCounts(outcomes), { 1009: RUNS }, 'every run closed with 1009')
    // Frames about others joining and dropping at the same time may come before it, nothing after.
    t.equal(outcomes.filter((o) => !isTooLarge(o.after.at(-1)) || o.after.filter((f) => f.type === 'error').length !== 1).length, 0,
      'in every run the one error is too-large with close 1009, and the last frame')
  })

  const connected = async (): Promise<unknown[]> => {
    const users = [...Object.values(await plaza.usersInRedis('oversize-v1')), ...Object.values(await plaza.usersInRedis('oversize-mv'))]
    return users.filter((user) => user.connected !== false)
  }
  t.same(await settle(connected, (users) => users.length === 0), [], 'every user who sent one was dropped (a ghost now)')
})

// ---------------------------------------------------------------------------------------------
// A raw client: it announces a frame far over the limit and keeps sending its payload, as a client in
// the middle of a large frame does (it cannot stop mid-frame), also after the server's FIN.

interface ServerFrame { opcode: number, payload: Buffer }

interface RawClient {
  socket: Socket
  /** The server's frames, in order. */
  frames: ServerFrame[]
  /** Errors on the socket (a reset shows here as ECONNRESET or EPIPE). */
  errors: string[]
  closed: Promise<unknown>
}

/** Upgrades a raw TCP socket at /ws and collects the server's (unmasked) frames as they arrive. */
async function rawClient (port: number, dialect: Dialect): Promise<RawClient> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  const errors: string[] = []
  socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message))
  const closed = new Promise((resolve) => socket.once('close', resolve))
  await once(socket, 'connect')
  socket.write([
    'GET /ws HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Protocol: ${dialect}`, '', ''
  ].join('\r\n'))
  const frames: ServerFrame[] = []
  let buffered = Buffer.alloc(0)
  let upgraded = false
  await new Promise<void>((resolve, reject) => {
    socket.once('close', () => reject(new Error(`closed before the upgrade: ${errors.join(', ')}`)))
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n')
        if (end === -1) return
        if (!buffered.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) reject(new Error(`upgrade refused: ${buffered.toString()}`))
        upgraded = true
        buffered = buffered.subarray(end + 4)
        resolve()
      }
      for (;;) {
        if (buffered.length < 2) return
        let length = (buffered[1] as number) & 0x7f
        let offset = 2
        if (length === 126) {
          if (buffered.length < 4) return
          length = buffered.readUInt16BE(2)
          offset = 4
        }
        if (buffered.length < offset + length) return
        frames.push({ opcode: (buffered[0] as number) & 0x0f, payload: buffered.subarray(offset, offset + length) })
        buffered = buffered.subarray(offset + length)
      }
    })
  })
  return { socket, frames, errors, closed }
}

/** The header of a masked text frame that announces `length` bytes (64-bit length form). */
function frameHeader (length: number): Buffer {
  const header = Buffer.alloc(14)
  header[0] = 0x81
  header[1] = 0x80 | 127
  header.writeBigUInt64BE(BigInt(length), 2)
  randomBytes(4).copy(header, 10)
  return header
}

/** Writes `total` bytes from one reused chunk, as fast as the socket takes them; resolves to the bytes written. */
async function stream (socket: Socket, total: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x61)
  let written = 0
  while (written < total && socket.writable) {
    if (!socket.write(chunk)) await new Promise((resolve) => { socket.once('drain', resolve).once('close', resolve) })
    written += chunk.length
  }
  return socket.writable ? written : -1
}

/** The resident memory of process `pid`, in bytes (Linux). */
function rss (pid: number): number {
  const kB = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  return Number(kB) * 1024
}

t.test('a flood of oversized frames is read and dropped: the server process does not grow, no connection is reset', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const { prefix } = isolate(t)
  const server = await startServer(t, testEnv(prefix, { MAX_MESSAGE_BYTES }))
  const pid = server.child.pid as number
  const dialectOf = (i: number): Dialect => i % 2 === 0 ? 'plaza.v1' : 'metaverse'
  // One round first, so that what the server allocates once (code, pools) is in the baseline.
  const warmUp = await rawClient(server.port, 'plaza.v1')
  t.teardown(() => { warmUp.socket.destroy() })
  warmUp.socket.write(frameHeader(MiB))
  await stream(warmUp.socket, MiB)
  warmUp.socket.end()
  await warmUp.closed

  const CLIENTS = 8
  const FLOOD = 32 * MiB
  const clients = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => await rawClient(server.port, dialectOf(i))))
  t.teardown(() => { for (const { socket } of clients) socket.destroy() })
  const base = rss(pid)
  let peak = base
  const sampler = setInterval(() => { peak = Math.max(peak, rss(pid)) }, 10)
  const started = Date.now()
  const written = await Promise.all(clients.map(async ({ socket }) => {
    socket.write(frameHeader(4 * 1024 * MiB))
    return await stream(socket, FLOOD)
  }))
  const floodMs = Date.now() - started
  clearInterval(sampler)
  peak = Math.max(peak, rss(pid))
  t.same(written, Array(CLIENTS).fill(FLOOD), `each client sent all of its ${FLOOD / MiB} MiB (in ${floodMs} ms), none was cut off`)
  // Read buffers awaiting the collector move RSS by some 30 MiB on Node 20, up to 85 MiB seen on Node 22,
  // whatever was sent; keeping what was sent would add all of it.
  const sent = CLIENTS * FLOOD
  t.ok(peak - base < sent / 2,
    `the server's RSS grew by ${((peak - base) / MiB).toFixed(1)} MiB while it was sent ${sent / MiB} MiB of refused frames (< ${sent / 2 / MiB} MiB)`)

  for (const [i, { socket, frames, errors, closed }] of clients.entries()) {
    const dialect = dialectOf(i)
    // The client has sent its frame and ends its side; the server closes when that arrives.
    socket.end()
    const ended = await Promise.race([closed.then(() => true), sleep(5000, false, { ref: false })])
    t.ok(ended, `${dialect}: the connection ended`)
    t.same(errors, [], `${dialect}: without a reset`)
    const close = frames.find((f) => f.opcode === 0x8)
    t.equal(close?.payload.readUInt16BE(0), 1009, `${dialect}: a close frame with 1009 came`)
    t.equal(frames.at(-1)?.opcode, 0x8, `${dialect}: nothing after it`)
    const texts = frames.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.payload.toString()) as Frame)
    if (dialect === 'plaza.v1') t.ok(texts.length === 1 && isTooLarge(texts[0]), 'plaza.v1: `too-large` came before it')
    else t.same(texts, [], 'metaverse: no text frame')
  }
})

t.test('a client that never answers the close is cut off after a few seconds, not held for ws\'s 30 s', async (t) => {
  const plaza = await startApp(t, { MAX_MESSAGE_BYTES })
  const client = await rawClient(Number(new URL(plaza.wsBase).port), 'metaverse')
  t.teardown(() => { client.socket.destroy() })
  const sockets = plaza.app.websocketServer.clients
  t.equal(sockets.size, 1, 'the server holds the socket')
  // It announces a large frame, sends part of it, then neither sends the rest nor answers the close.
  client.socket.write(frameHeader(MiB))
  client.socket.write(Buffer.alloc(64 * 1024))
  const started = Date.now()
  await settle(() => sockets.size, (size) => size === 0, 10_000)
  const heldMs = Date.now() - started
  t.equal(sockets.size, 0, `the server let the socket go (after ${heldMs} ms)`)
  t.ok(heldMs >= 1000 && heldMs < 8000, 'having waited for the close handshake for a few seconds')
  t.equal(client.frames.find((f) => f.opcode === 0x8)?.payload.readUInt16BE(0), 1009, 'the client had its close frame with 1009')
})
