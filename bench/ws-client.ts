/**
 * A minimal WebSocket client (RFC 6455) for the load generator, thousands of them in one process.
 * Not `ws`'s client: it takes ~1.3× the CPU per frame received (2.0 vs 1.6 µs), from the server's cores.
 * The handshake is Node's HTTP client (an `upgrade` request, the `Sec-WebSocket-Accept` checked);
 * after it, frames are read straight from each TCP chunk: a text frame is handed over as (chunk,
 * start, end) with no copy and no per-frame object, and the time of arrival is read once per chunk.
 * Frames sent are masked with fresh keys, as the RFC requires. Handles fragmented messages, ping
 * (answered with pong), close, 16- and 64-bit lengths; no extensions are offered (no permessage-deflate).
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export interface RawWebSocketHandlers {
  /** The handshake succeeded. */
  onOpen: () => void
  /** A complete text message: buf[start, end) (valid until this call returns); now = performance.now() of the chunk's arrival. */
  onText: (buf: Buffer, start: number, end: number, now: number) => void
  /** The connection ended: the close code the server sent, or 1006 when it sent none. */
  onClose: (code: number) => void
  /** The handshake failed (HTTP status, network error, bad accept key) or the stream broke. */
  onError: (err: Error) => void
}

export interface RawWebSocketOptions {
  /** Offered in Sec-WebSocket-Protocol. */
  protocol?: string
  localAddress?: string
  handshakeTimeoutMs?: number
}

// Masking keys come from a pool of random bytes, refilled when used up.
let pool = randomFillSync(Buffer.allocUnsafe(64 * 1024))
let poolAt = 0
function maskKey (): number {
  if (poolAt + 4 > pool.length) {
    pool = randomFillSync(pool)
    poolAt = 0
  }
  poolAt += 4
  return poolAt - 4
}

/** A client frame: FIN + opcode, masked payload. */
function frame (opcode: number, payload: Buffer): Buffer {
  const length = payload.length
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10
  const out = Buffer.allocUnsafe(head + 4 + length)
  out[0] = 0x80 | opcode
  if (length < 126) {
    out[1] = 0x80 | length
  } else if (length < 65536) {
    out[1] = 0x80 | 126
    out.writeUInt16BE(length, 2)
  } else {
    out[1] = 0x80 | 127
    out.writeBigUInt64BE(BigInt(length), 2)
  }
  const k = maskKey()
  pool.copy(out, head, k, k + 4)
  const o = head + 4
  for (let i = 0; i < length; i++) out[o + i] = (payload[i] as number) ^ (out[head + (i & 3)] as number)
  return out
}

export class RawWebSocket {
  /** The subprotocol the server chose ('' when it chose none). */
  protocol = ''
  #socket: Socket | undefined
  #request: ReturnType<typeof httpRequest> | undefined
  #handlers: RawWebSocketHandlers
  #leftover: Buffer | undefined
  #fragments: Buffer[] | undefined
  #fragmentText = false
  #closeCode = 1006
  #state: 'connecting' | 'open' | 'closing' | 'closed' = 'connecting'

  constructor (url: string, options: RawWebSocketOptions, handlers: RawWebSocketHandlers) {
    this.#handlers = handlers
    const target = new URL(url)
    const key = randomBytes(16).toString('base64')
    const request = target.protocol === 'wss:' ? httpsRequest : httpRequest
    const req = request({
      protocol: target.protocol === 'wss:' ? 'https:' : 'http:',
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port,
      path: `${target.pathname}${target.search}`,
      agent: false,
      localAddress: options.localAddress,
      timeout: options.handshakeTimeoutMs ?? 30_000,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': key,
        ...(options.protocol !== undefined ? { 'Sec-WebSocket-Protocol': options.protocol } : {})
      }
    })
    let settled = false
    const fail = (err: Error): void => {
      if (settled) return
      settled = true
      this.#state = 'closed'
      req.destroy()
      handlers.onError(err)
    }
    this.#request = req
    req.on('timeout', () => fail(new Error('handshake timeout')))
    req.on('error', fail)
    req.on('response', (res) => {
      res.resume()
      fail(new Error(`upgrade refused: HTTP ${res.statusCode}`))
    })
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      const expected = createHash('sha1').update(key + GUID).digest('base64')
      if (res.headers['sec-websocket-accept'] !== expected) {
        socket.destroy()
        fail(new Error('bad Sec-WebSocket-Accept'))
        return
      }
      settled = true
      req.setTimeout(0)
      this.#request = undefined
      this.protocol = String(res.headers['sec-websocket-protocol'] ?? '')
      this.#socket = socket
      this.#state = 'open'
      socket.setNoDelay(true)
      socket.setTimeout(0)
      socket.on('data', (chunk: Buffer) => this.#onData(chunk))
      socket.on('error', () => { /* the close follows */ })
      socket.on('close', () => {
        if (this.#state === 'closed') return
        this.#state = 'closed'
        handlers.onClose(this.#closeCode)
      })
      handlers.onOpen()
      if (head.length > 0) this.#onData(head)
    })
    req.end()
  }

  get isOpen (): boolean {
    return this.#state === 'open'
  }

  /** Sends a text message (a string, or its UTF-8 bytes). */
  send (text: string | Buffer): void {
    if (this.#state !== 'open' || this.#socket === undefined) return
    this.#socket.write(frame(0x1, typeof text === 'string' ? Buffer.from(text) : text))
  }

  /** A close handshake: a close frame, then the end of our side; the socket is destroyed if the server does not answer. */
  close (code = 1000): void {
    const socket = this.#socket
    if (this.#state !== 'open' || socket === undefined) {
      this.terminate()
      return
    }
    this.#state = 'closing'
    const payload = Buffer.allocUnsafe(2)
    payload.writeUInt16BE(code)
    socket.write(frame(0x8, payload))
    socket.end()
    setTimeout(() => socket.destroy(), 2000).unref()
  }

  terminate (): void {
    this.#socket?.destroy()
    if (this.#state === 'connecting') {
      this.#state = 'closed'
      this.#request?.destroy()
    }
  }

  #onData (chunk: Buffer): void {
    const now = performance.now()
    let buf = chunk
    if (this.#leftover !== undefined) {
      buf = Buffer.concat([this.#leftover, chunk])
      this.#leftover = undefined
    }
    const len = buf.length
    let i = 0
    while (i + 2 <= len) {
      const b0 = buf[i] as number
      const b1 = buf[i + 1] as number
      let length = b1 & 0x7f
      let at = i + 2
      if (length === 126) {
        if (at + 2 > len) break
        length = buf.readUInt16BE(at)
        at += 2
      } else if (length === 127) {
        if (at + 8 > len) break
        length = Number(buf.readBigUInt64BE(at))
        at += 8
      }
      const masked = (b1 & 0x80) !== 0
      if (masked) at += 4
      if (at + length > len) break
      if (masked) {
        // Servers must not mask; unmask in place all the same.
        for (let j = 0; j < length; j++) buf[at + j] = (buf[at + j] as number) ^ (buf[at - 4 + (j & 3)] as number)
      }
      this.#onFrame(b0, buf, at, at + length, now)
      i = at + length
      if (this.#state === 'closed') return
    }
    if (i < len) this.#leftover = buf.subarray(i)
  }

  #onFrame (b0: number, buf: Buffer, start: number, end: number, now: number): void {
    const fin = (b0 & 0x80) !== 0
    const opcode = b0 & 0x0f
    switch (opcode) {
      case 0x1:
        if (fin) this.#handlers.onText(buf, start, end, now)
        else {
          this.#fragments = [Buffer.from(buf.subarray(start, end))]
          this.#fragmentText = true
        }
        return
      case 0x2:
        if (!fin) {
          this.#fragments = []
          this.#fragmentText = false
        }
        return
      case 0x0: {
        const fragments = this.#fragments
        if (fragments === undefined) return
        if (this.#fragmentText) fragments.push(Buffer.from(buf.subarray(start, end)))
        if (fin) {
          this.#fragments = undefined
          if (this.#fragmentText) {
            const whole = Buffer.concat(fragments)
            this.#handlers.onText(whole, 0, whole.length, now)
          }
        }
        return
      }
      case 0x8: {
        this.#closeCode = end - start >= 2 ? buf.readUInt16BE(start) : 1005
        const socket = this.#socket
        if (this.#state === 'open' && socket !== undefined) {
          // Echo the close, then end our side.
          this.#state = 'closing'
          socket.write(frame(0x8, Buffer.from(buf.subarray(start, Math.min(end, start + 2)))))
          socket.end()
          setTimeout(() => socket.destroy(), 2000).unref()
        }
        return
      }
      case 0x9:
        if (this.#state === 'open') this.#socket?.write(frame(0xa, Buffer.from(buf.subarray(start, end))))
        return
      default:
        // 0xA pong and reserved opcodes: nothing to do.
    }
  }
}
