import { once } from 'node:events'
import type { ClientRequest, IncomingMessage } from 'node:http'
import t from 'tap'
import { WebSocket } from 'ws'
import { settle, startApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

/** Readiness and the drain at shutdown (PROTOCOL §12). */

t.test('/readyz answers 200 without a token while the server takes connections', async (t) => {
  const plaza = await startApp(t)
  const res = await fetch(`${plaza.httpBase}/readyz`)
  t.equal(res.status, 200)
  t.same(await res.json(), { status: 'ready' })
})

t.test('/readyz answers 503 while the event loop is overloaded, and 200 again after', async (t) => {
  const plaza = await startApp(t, { READY_MAX_EVENT_LOOP_DELAY_MS: 50 })
  const until = Date.now() + 1500
  while (Date.now() < until) { /* the event loop is blocked, as by a flood of work */ }
  const busy = await settle(async () => (await fetch(`${plaza.httpBase}/readyz`)).status, (status) => status === 503)
  t.equal(busy, 503)
  const calm = await settle(async () => (await fetch(`${plaza.httpBase}/readyz`)).status, (status) => status === 200, 5000)
  t.equal(calm, 200)
})

t.test('at shutdown: /readyz and new upgrades get 503 at once, /healthz 200, sockets close with 1001 spread over the drain, users become ghosts', async (t) => {
  const plaza = await startApp(t, { DRAIN_DELAY_MS: 400, DRAIN_SPREAD_MS: 400 })
  await plaza.defineSpace({ id: 'hall' })
  const clients = await Promise.all(['ann', 'bob', 'cid', 'dee'].map(async (userId) => {
    const client = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
    await client.join('hall', plaza.token({ userId }))
    return client
  }))
  const closedAt = clients.map(async (client) => {
    const [code] = await once(client.socket, 'close') as [number]
    return { code, at: performance.now() }
  })
  const started = performance.now()
  const closing = plaza.app.close()

  t.equal((await fetch(`${plaza.httpBase}/readyz`)).status, 503, '/readyz says not ready at once')
  t.equal((await fetch(`${plaza.httpBase}/healthz`)).status, 200, '/healthz: the process is up all along')
  const late = new WebSocket(`${plaza.wsBase}/ws`, 'plaza.v1')
  late.on('error', () => { /* the refused handshake, ended below */ })
  const [request, response] = await once(late, 'unexpected-response') as [ClientRequest, IncomingMessage]
  t.equal(response.statusCode, 503, 'a new upgrade is refused with 503')
  request.destroy()
  t.ok(clients.every((c) => c.socket.readyState === WebSocket.OPEN), 'connected users stay during the delay')

  const closes = await Promise.all(closedAt)
  await closing
  t.same(closes.map((c) => c.code), [1001, 1001, 1001, 1001])
  const times = closes.map((c) => c.at - started).sort((a, b) => a - b)
  t.ok((times[0] as number) >= 350, `the first socket closed after the delay (${Math.round(times[0] as number)} ms)`)
  t.ok((times[3] as number) - (times[0] as number) >= 200, 'the closes are spread over the drain')
  const users = await plaza.usersInRedis('hall')
  t.same(Object.values(users).map((u) => u.connected), [false, false, false, false], 'everyone is a ghost in Redis')
})
