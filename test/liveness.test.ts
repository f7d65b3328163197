import { once } from 'node:events'
import t from 'tap'
import { WebSocket } from 'ws'
import { settle, startApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

t.test('a socket that stops answering pings is dropped and becomes a ghost', async (t) => {
  const plaza = await startApp(t, { PING_INTERVAL_MS: 100 })
  await plaza.defineSpace({ id: 'room' })
  const watcher = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => watcher.close())
  await watcher.join('room', plaza.token({ userId: 'watcher' }))

  // A client whose network went away: it never answers a ping.
  const silent = new WebSocket(`${plaza.wsBase}/ws`, 'plaza.v1', { autoPong: false })
  await new Promise((resolve) => silent.once('open', resolve))
  const closed = new Promise((resolve) => silent.once('close', resolve))
  silent.send(JSON.stringify({ type: 'join', payload: { spaceId: 'room', token: plaza.token({ userId: 'silent' }) } }))
  t.same((await watcher.next('user-joined-space')).payload.userId, 'silent')

  t.same((await watcher.next('user-disconnected', 3000)).payload, { userId: 'silent' }, 'peers are told of the drop')
  await closed
  const entry = await settle(async () => (await plaza.usersInRedis('room')).silent, (e) => e?.connected === false)
  t.equal(entry?.connected, false, 'the dropped user is a ghost in Redis')

  // The watcher answers pings: still connected, and served, after several of them.
  for (let ping = 0; ping < 3; ping++) await once(watcher.socket, 'ping')
  t.same(await watcher.quiet(), [], 'a client that answers pings stays connected')
  t.equal(watcher.socket.readyState, WebSocket.OPEN)
})
