/**
 * When the client tries again, to the millisecond: a fake WebSocket that the test opens, answers and
 * fails, a fake clock that the test moves, and in the browser tests a fake network. No server.
 */
import t from 'tap'
import { PlazaClient, type PlazaClientOptions, type StatusChange, type WebSocketLike } from '../client/index.js'

/** Every timer the client sets runs on this clock, which moves only when `advance` is called. */
interface Clock {
  readonly now: number
  advance: (ms: number) => void
}

/** Runs `body` with setTimeout, setInterval and Date.now replaced by a clock the test moves. */
function withFakeClock (body: (clock: Clock) => void): void {
  const real = { setTimeout, clearTimeout, setInterval, clearInterval, now: Date.now }
  const timers = new Map<number, { at: number, run: () => void, every?: number }>()
  let now = 1_700_000_000_000
  let lastId = 0
  const g = globalThis as Record<string, unknown>
  g.setTimeout = (run: () => void, ms = 0) => { timers.set(++lastId, { at: now + ms, run }); return lastId }
  g.setInterval = (run: () => void, ms = 0) => { timers.set(++lastId, { at: now + ms, run, every: Math.max(1, ms) }); return lastId }
  g.clearTimeout = g.clearInterval = (id: number) => { timers.delete(id) }
  Date.now = () => now
  const clock: Clock = {
    get now () { return now },
    advance (ms) {
      const end = now + ms
      for (;;) {
        // The earliest due timer first; of two due at once, the one set first.
        const [id, timer] = [...timers].filter(([, timer]) => timer.at <= end).sort(([a, x], [b, y]) => x.at - y.at || a - b)[0] ?? []
        if (id === undefined || timer === undefined) break
        now = timer.at
        if (timer.every === undefined) timers.delete(id)
        else timer.at += timer.every
        timer.run()
      }
      now = end
    }
  }
  try {
    body(clock)
  } finally {
    // Restored before the test ends: tap's own timers must be real ones.
    Object.assign(g, { setTimeout: real.setTimeout, clearTimeout: real.clearTimeout, setInterval: real.setInterval, clearInterval: real.clearInterval })
    Date.now = real.now
  }
}

/** A WebSocket class whose sockets the test drives; `opened` lists them, with when each was made. */
function fakeWebSocket () {
  const opened: FakeSocket[] = []
  class FakeSocket implements WebSocketLike {
    readyState = 0
    readonly at = Date.now()
    readonly sent: string[] = []
    onopen: ((event: unknown) => void) | null = null
    onmessage: ((event: { data: string }) => void) | null = null
    onclose: ((event: { code: number, reason: string }) => void) | null = null
    onerror: ((event: unknown) => void) | null = null
    constructor () { opened.push(this) }
    send (data: string): void { this.sent.push(data) }
    close (): void { this.readyState = 3 }
    /** The server took the connection and answers the join. */
    accept (spaceId: string): void {
      this.readyState = 1
      this.onopen?.({})
      this.onmessage?.({
        data: JSON.stringify({
          type: 'space-joined',
          payload: { userId: 'alice', spawn: { x: 1, y: 1 }, users: [], resumed: false, space: { id: spaceId, width: 5, height: 5, obstacles: [] }, chat: [] }
        })
      })
    }

    /** The connection failed or dropped (1006: no close frame, as when the network or server is gone). */
    fail (): void {
      this.readyState = 3
      this.onclose?.({ code: 1006, reason: '' })
    }
  }
  return { WebSocket: FakeSocket, opened }
}

/** A client on fake sockets, every status recorded; random() = 0.5 puts each delay exactly on the schedule. */
function fakeClient (options: Partial<PlazaClientOptions> = {}) {
  const { WebSocket, opened } = fakeWebSocket()
  const client = new PlazaClient({ url: 'ws://plaza.test/ws', token: 'a-token', WebSocket, random: () => 0.5, heartbeatIntervalMs: 3_600_000, ...options })
  const statuses: StatusChange[] = []
  client.on('status', (s) => statuses.push(s))
  return { client, opened, statuses, latest: () => opened.at(-1) }
}

/** The page's network as a browser reports it, on Node's globalThis until `restore`. */
class FakeNetwork {
  online = true
  readonly #listeners: Array<{ type: string, listener: () => void }> = []
  readonly #saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator')

  constructor () {
    const network = this
    Object.defineProperty(globalThis, 'navigator', { configurable: true, value: { get onLine () { return network.online } } })
    Object.assign(globalThis, {
      addEventListener: (type: string, listener: () => void) => { this.#listeners.push({ type, listener }) },
      removeEventListener: (type: string, listener: () => void) => {
        const at = this.#listeners.findIndex((l) => l.type === type && l.listener === listener)
        if (at >= 0) this.#listeners.splice(at, 1)
      }
    })
  }

  set (online: boolean): void {
    this.online = online
    for (const { type, listener } of [...this.#listeners]) if (type === (online ? 'online' : 'offline')) listener()
  }

  restore (): void {
    const g = globalThis as Record<string, unknown>
    delete g.addEventListener
    delete g.removeEventListener
    delete g.navigator
    if (this.#saved !== undefined) Object.defineProperty(globalThis, 'navigator', this.#saved)
  }
}

t.test('after a drop, attempts start 1, 2, 4, 8 and 16 s after each failure (the default schedule), then it gives up', async (t) => {
  withFakeClock((clock) => {
    const { client, opened, statuses, latest } = fakeClient()
    const start = clock.now
    void client.join('lobby')
    latest()?.accept('lobby')
    t.equal(client.status.status, 'connected')
    latest()?.fail()
    for (let i = 0; i < 10 && client.status.status === 'reconnecting'; i++) {
      const before = opened.length
      clock.advance(client.status.retryInMs ?? 0)
      t.equal(opened.length, before + 1, 'one attempt, when it was due')
      latest()?.fail()
    }
    t.same(opened.slice(1).map((s) => s.at - start), [1000, 3000, 7000, 15_000, 31_000])
    t.match(client.status, { status: 'offline', reason: 'gave-up' })
    t.same(statuses.filter((s) => (s.retryInMs ?? 0) > 0).map((s) => s.retryInMs), [1000, 2000, 4000, 8000, 16_000])
    clock.advance(3_600_000)
    t.equal(opened.length, 6, 'nothing more is tried on its own')
    client.close()
  })
})

t.test('a joined connection that lasts resetAfterMs starts the count again; a shorter one does not', async (t) => {
  withFakeClock((clock) => {
    const { client, opened, latest } = fakeClient({ reconnect: { maxAttempts: 2 } })
    void client.join('lobby')
    latest()?.accept('lobby')
    latest()?.fail()
    clock.advance(1000)
    latest()?.accept('lobby')
    clock.advance(4999)
    latest()?.fail()
    t.match(client.status, { status: 'reconnecting', attempt: 2, retryInMs: 2000 }, 'joined for less than 5 s: the next attempt is the second')
    clock.advance(2000)
    latest()?.accept('lobby')
    clock.advance(5000)
    latest()?.fail()
    t.match(client.status, { status: 'reconnecting', attempt: 1, retryInMs: 1000 }, 'joined for 5 s: the first again')
    t.equal(opened.length, 3)
    client.close()
  })
})

t.test('in a browser without network: one try every maxDelayMs, none spent, never given up; online tries at once', async (t) => {
  const network = new FakeNetwork()
  t.teardown(() => network.restore())
  withFakeClock((clock) => {
    const { client, opened, latest } = fakeClient()
    void client.join('lobby')
    latest()?.accept('lobby')

    network.set(false)
    const wentOffline = clock.now
    t.match(client.status, { status: 'reconnecting', waitingForNetwork: true, attempt: 1, maxAttempts: 5, retryInMs: 30_000 })
    // More tries than maxAttempts, each failing at once for want of a network.
    for (let i = 1; i <= 8; i++) {
      clock.advance(29_999)
      t.equal(opened.length, i, `no try before ${i * 30} s`)
      clock.advance(1)
      t.equal(opened.length, i + 1, `a try at ${i * 30} s, in case the browser is wrong`)
      latest()?.fail()
      t.match(client.status, { status: 'reconnecting', waitingForNetwork: true, attempt: 1, retryInMs: 30_000 }, 'no attempt spent')
    }
    t.same(opened.slice(1).map((s) => s.at - wentOffline), [1, 2, 3, 4, 5, 6, 7, 8].map((n) => n * 30_000))

    // Back online, with the server not answering yet: a try at once, then the whole schedule.
    clock.advance(12_345)
    network.set(true)
    const cameBack = clock.now
    for (let i = 0; i < 10 && client.status.status === 'reconnecting'; i++) {
      clock.advance(client.status.retryInMs ?? 0)
      latest()?.fail()
    }
    t.same(opened.slice(9).map((s) => s.at - cameBack), [0, 2000, 6000, 14_000, 30_000], 'five attempts, as after any drop')
    t.match(client.status, { status: 'offline', reason: 'gave-up' })
    client.close()
  })
})

t.test('in a browser, going offline stops a countdown: the next try is maxDelayMs later, or at once when online', async (t) => {
  const network = new FakeNetwork()
  t.teardown(() => network.restore())
  withFakeClock((clock) => {
    const { client, opened, latest } = fakeClient({ reconnect: { maxDelayMs: 20_000 } })
    void client.join('lobby')
    latest()?.accept('lobby')
    latest()?.fail()
    t.match(client.status, { status: 'reconnecting', retryInMs: 1000 })
    clock.advance(500)
    network.set(false)
    const wentOffline = clock.now
    clock.advance(19_999)
    t.equal(opened.length, 1, 'the countdown did not fire')
    clock.advance(1)
    t.equal(opened.length, 2)
    t.equal((latest()?.at ?? 0) - wentOffline, 20_000)
    latest()?.fail()
    clock.advance(5000)
    network.set(true)
    t.equal(opened.length, 3, 'online: at once')
    latest()?.accept('lobby')
    t.equal(client.status.status, 'connected')
    client.close()
  })
})
