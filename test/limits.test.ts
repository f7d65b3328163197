import t from 'tap'
import { WebSocket } from 'ws'
import { ADMIN_TOKEN, settle, startApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'
import { sampleValue, scrape } from './helpers/metrics.js'

t.test('one address may hold MAX_CONNECTIONS_PER_IP sockets; more are refused at the upgrade with 429', async (t) => {
  const plaza = await startApp(t, { MAX_CONNECTIONS_PER_IP: 3 })
  const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(`${plaza.wsBase}/ws`)))
  t.teardown(() => Promise.all(clients.map((c) => c.close())))
  await t.rejects(TestClient.connect(`${plaza.wsBase}/ws`), /upgrade refused: 429/)
  await clients[0]?.close()
  const again = await settle(() => TestClient.connect(`${plaza.wsBase}/ws`).catch(() => undefined), (c) => c !== undefined)
  t.ok(again, 'a closed socket frees its place')
  await again?.close()
})

t.test('one user may be in MAX_SPACES_PER_USER spaces at once; a take-over does not count', async (t) => {
  const plaza = await startApp(t, { MAX_SPACES_PER_USER: 2 })
  for (const id of ['one', 'two', 'three']) await plaza.defineSpace({ id })
  const token = plaza.token({ userId: 'alice' })
  const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')))
  t.teardown(() => Promise.all([a, b, c, d].map((x) => x?.close())))
  await a?.join('one', token)
  await b?.join('two', token)
  c?.send({ type: 'join', payload: { spaceId: 'three', token } })
  t.same((await c?.next('error'))?.payload, { code: 'rate-limited', message: 'this user is in too many spaces at once', close: 4029 })
  t.equal((await c?.closed)?.code, 4029)
  t.equal((await d?.join('two', token))?.resumed, true, 'a second connection in a space it is in already takes over')
})

t.test('a client that stops reading is cut off once its backlog passes MAX_BUFFERED_BYTES; others carry on', async (t) => {
  const plaza = await startApp(t, { MAX_BUFFERED_BYTES: 64 * 1024, MAX_MOVES_PER_S: 1_000_000, MAX_MESSAGES_PER_S: 1_000_000 })
  await plaza.defineSpace({ id: 'hall', width: 4, height: 1 })
  const mover = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const watcher = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const slow = new WebSocket(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => { slow.terminate(); return Promise.all([mover.close(), watcher.close()]) })
  await new Promise((resolve) => slow.once('open', resolve))
  const spawn = (await mover.join('hall', plaza.token({ userId: 'mover' }))).spawn as { x: number }
  await watcher.join('hall', plaza.token({ userId: 'watcher' }))
  slow.send(JSON.stringify({ type: 'join', payload: { spaceId: 'hall', token: plaza.token({ userId: 'slow' }) } }))
  await mover.next('user-joined-space')
  await mover.next('user-joined-space')
  // The slow client stops reading: its TCP window fills, then the server's send buffer. ws has no
  // way to stop reading, so its TCP socket (a private field) is paused.
  const raw = (slow as unknown as { _socket: { pause: () => void } })._socket
  raw.pause()

  const other = spawn.x === 0 ? 1 : spawn.x - 1
  let cut = false
  watcher.socket.on('message', (data) => { if (data.toString().includes('"user-disconnected"') && data.toString().includes('"slow"')) cut = true })
  for (let round = 0; round < 400 && !cut; round++) {
    for (let i = 0; i < 500; i++) mover.send({ type: 'move', payload: { x: i % 2 === 0 ? other : spawn.x, y: 0 } })
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  t.ok(cut, 'the slow reader was dropped (peers hear user-disconnected)')
  const ghost = await settle(async () => (await plaza.usersInRedis('hall')).slow, (e) => e?.connected === false)
  t.equal(ghost?.connected, false, 'and is a ghost, to resume when it reads again')
  // The others are still served: a fresh step reaches the watcher.
  mover.send({ type: 'heartbeat', payload: { timestamp: 1 } })
  t.equal((await mover.waitFor('heartbeat', 5000)).payload.timestamp, 1, 'the mover is still served')
})

t.test('a client that reads along is not cut off for what one busy turn sends it past MAX_BUFFERED_BYTES', async (t) => {
  const plaza = await startApp(t, { MAX_BUFFERED_BYTES: 1024 })
  await plaza.defineSpace({ id: 'hall', width: 20, height: 20 })
  const watcher = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  await watcher.join('hall', plaza.token({ userId: 'watcher' }))
  // Joins that arrive together share a claim call, and the watcher hears of them in one turn:
  // ~100 bytes each, far more than 1 KB corked for it before that turn's writes go out.
  const joiners = await Promise.all(Array.from({ length: 40 }, () => TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')))
  t.teardown(() => Promise.all([watcher, ...joiners].map((c) => c.close())))
  await Promise.all(joiners.map((c, i) => c.join('hall', plaza.token({ userId: `joiner-${i}` }))))
  const heard = new Set<unknown>()
  while (heard.size < joiners.length) heard.add((await watcher.next('user-joined-space')).payload.userId)
  watcher.send({ type: 'heartbeat', payload: { timestamp: 7 } })
  t.equal((await watcher.waitFor('heartbeat')).payload.timestamp, 7, 'the watcher is still connected and served')
  t.equal(sampleValue(await scrape(plaza.httpBase), 'plaza_drops_total'), 0, 'nobody was cut off')
})

t.test('with ALLOWED_ORIGINS set, a browser page from another origin is refused (403); no Origin is a non-browser client', async (t) => {
  const plaza = await startApp(t, { ALLOWED_ORIGINS: 'https://plaza.example, http://localhost:3000' })
  await t.rejects(TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1', { origin: 'https://evil.example' }), /upgrade refused: 403/)
  const allowed = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1', { origin: 'http://localhost:3000' })
  const native = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.same([allowed, native].map((c) => c.socket.readyState), [WebSocket.OPEN, WebSocket.OPEN], 'allowed and origin-less clients connect')
  await Promise.all([allowed.close(), native.close()])
})

t.test('operator routes are rate-limited per address, before the token is checked', async (t) => {
  const plaza = await startApp(t, { ADMIN_RATE_LIMIT_PER_MIN: 3 })
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) {
    statuses.push((await fetch(`${plaza.httpBase}/admin/spaces`, { headers: { authorization: 'Bearer wrong' } })).status)
  }
  t.same(statuses, [401, 401, 401, 429], 'guessing the token is limited too')
  const limited = await fetch(`${plaza.httpBase}/admin/spaces`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(limited.status, 429, 'the window holds for the right token as well')
  t.equal((await fetch(`${plaza.httpBase}/healthz`)).status, 200, 'the liveness probe is not limited')
})

t.test('a configured audience and issuer must be in the token, and match', async (t) => {
  const plaza = await startApp(t, { JWT_AUDIENCE: 'plaza', JWT_ISSUER: 'https://auth.example' })
  await plaza.defineSpace({ id: 'room' })
  const cases: Array<[string, Record<string, unknown>, boolean]> = [
    ['both right', { userId: 'a', aud: 'plaza', iss: 'https://auth.example' }, true],
    ['no aud', { userId: 'b', iss: 'https://auth.example' }, false],
    ['no iss', { userId: 'c', aud: 'plaza' }, false],
    ['neither', { userId: 'd' }, false],
    ['wrong aud', { userId: 'e', aud: 'other', iss: 'https://auth.example' }, false],
    ['wrong iss', { userId: 'f', aud: 'plaza', iss: 'https://evil.example' }, false]
  ]
  for (const [name, claims, accepted] of cases) {
    const client = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
    client.send({ type: 'join', payload: { spaceId: 'room', token: plaza.token(claims) } })
    const frame = await client.next()
    t.equal(frame.type, accepted ? 'space-joined' : 'error', `${name}: ${accepted ? 'accepted' : 'refused'}`)
    if (!accepted) t.equal((await client.closed).code, 4001)
    await client.close()
  }
})

t.test('behind a trusted proxy, a client cannot forge its address past the per-address cap', async (t) => {
  const plaza = await startApp(t, { MAX_CONNECTIONS_PER_IP: 2, TRUST_PROXY: '127.0.0.1' })
  // The proxy appends the address it saw last; whatever the client wrote before it is not trusted.
  const forged = (i: number) => ({ 'x-forwarded-for': `10.0.0.${i}, 203.0.113.7` })
  const open = await Promise.all([1, 2].map((i) => TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1', forged(i))))
  t.teardown(() => Promise.all(open.map((c) => c.close())))
  await t.rejects(TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1', forged(3)), /upgrade refused: 429/, 'the third from 203.0.113.7 is refused')
  const other = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1', { 'x-forwarded-for': '198.51.100.9' })
  t.equal(other.socket.readyState, WebSocket.OPEN, 'another client address is counted apart')
  await other.close()
})
