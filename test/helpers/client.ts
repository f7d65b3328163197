import { WebSocket } from 'ws'

export interface Frame {
  type: string
  payload: Record<string, unknown>
}

/**
 * A real WebSocket client that records every frame in order, so that a test can assert exactly
 * what arrived, and what did not.
 */
export class TestClient {
  readonly socket: WebSocket
  readonly received: Frame[] = []
  readonly closed: Promise<{ code: number, reason: string }>
  #cursor = 0
  /** Heartbeat timestamps of `quiet()`, negative so that no test's own heartbeat is mistaken for one. */
  static #roundTrips = 0
  #waiters: Array<() => void> = []

  private constructor (socket: WebSocket) {
    this.socket = socket
    socket.on('message', (data, isBinary) => {
      // Plaza sends JSON text frames only: a binary one shows up as a frame no test expects.
      this.received.push(isBinary ? { type: '(binary frame)', payload: {} } : JSON.parse(data.toString()) as Frame)
      this.#wake()
    })
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        this.#wake()
      })
    })
    socket.on('error', () => { /* surfaced through `closed` */ })
  }

  static async connect (url: string, protocol?: string | string[], headers?: Record<string, string>): Promise<TestClient> {
    const socket = new WebSocket(url, protocol, { headers })
    const client = new TestClient(socket)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
      socket.once('error', reject)
    })
    return client
  }

  send (message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  async join (spaceId: string, token: string): Promise<Frame['payload']> {
    this.send({ type: 'join', payload: { spaceId, token } })
    return (await this.next('space-joined')).payload
  }

  /** The next frame, which must be of `type` when one is given. */
  async next (type?: string, timeoutMs = 2000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    while (this.#cursor >= this.received.length) {
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting for ${type ?? 'a frame'}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no ${type ?? 'frame'} within ${timeoutMs} ms; received ${JSON.stringify(this.received)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    const frame = this.received[this.#cursor++] as Frame
    if (type !== undefined && frame.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(frame)}`)
    return frame
  }

  /** Skips frames until one of `type` arrives. */
  async waitFor (type: string, timeoutMs = 2000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const frame = await this.next(undefined, Math.max(1, deadline - Date.now()))
      if (frame.type === type) return frame
    }
  }

  /**
   * The frames not yet read, once a round trip shows that the server has handled every frame this
   * client sent before and sent it everything it had for it (frames on one socket stay in order).
   * A test that expects nothing asserts `[]`: unlike a fixed wait, this cannot end before a late frame.
   * plaza.v1 asks with a heartbeat; metaverse answers nothing but a refused move, so it asks with a
   * move off the map (counted as an out-of-bounds refusal). The client must have joined.
   * For a peer, call it after the sender's own: the peer's answer then follows whatever the
   * sender's frames made the server send the peer.
   */
  async quiet (timeoutMs = 5000): Promise<Frame[]> {
    const rest: Frame[] = []
    if (this.dialect === 'metaverse') {
      this.send({ type: 'move', payload: { x: -1, y: -1 } })
      for (;;) {
        const frame = await this.next(undefined, timeoutMs)
        if (frame.type === 'movement-rejected') return rest
        rest.push(frame)
      }
    }
    const timestamp = -(++TestClient.#roundTrips)
    this.send({ type: 'heartbeat', payload: { timestamp } })
    for (;;) {
      const frame = await this.next(undefined, timeoutMs)
      if (frame.type === 'heartbeat' && frame.payload.timestamp === timestamp) return rest
      rest.push(frame)
    }
  }

  /** The dialect the server speaks to this client: the negotiated one, else what its join answer shows. */
  get dialect (): 'plaza.v1' | 'metaverse' {
    if (this.socket.protocol === 'plaza.v1' || this.socket.protocol === 'metaverse') return this.socket.protocol
    const joined = this.received.find((f) => f.type === 'space-joined')
    return joined !== undefined && !('resumed' in joined.payload) ? 'metaverse' : 'plaza.v1'
  }

  /**
   * The frames that arrived within `ms` and were not yet read. A fixed wait proves nothing arrived
   * only when nothing could arrive later; prefer `quiet()`, or use this where a socket is closed.
   */
  async unread (ms = 150): Promise<Frame[]> {
    await new Promise((resolve) => setTimeout(resolve, ms))
    const rest = this.received.slice(this.#cursor)
    this.#cursor = this.received.length
    return rest
  }

  async close (): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close()
    await this.closed
  }

  #wake (): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}

/** A tile next to (x, y) inside a width×height space with no obstacles around. */
export function neighbour (x: number, y: number, width: number): { x: number, y: number } {
  return x + 1 < width ? { x: x + 1, y } : { x: x - 1, y }
}
