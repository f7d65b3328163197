import t from 'tap'
import { startApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

/** A connection handles its frames in the order they came, whatever state each leaves it in. */

t.test('join, leave, join sent back to back: both joins are answered and the socket stays in the second space', async (t) => {
  const plaza = await startApp(t, { JOIN_TIMEOUT_MS: 300 })
  await plaza.defineSpace({ id: 'first' })
  await plaza.defineSpace({ id: 'second' })
  const watcher = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const quick = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => Promise.all([watcher.close(), quick.close()]))
  await watcher.join('second', plaza.token({ userId: 'watcher' }))

  const token = plaza.token({ userId: 'quick' })
  quick.send({ type: 'join', payload: { spaceId: 'first', token } })
  quick.send({ type: 'leave', payload: {} })
  quick.send({ type: 'join', payload: { spaceId: 'second', token } })
  t.match((await quick.next('space-joined')).payload, { space: { id: 'first' } })
  t.match((await quick.next('space-joined')).payload, { space: { id: 'second' } })
  t.match((await watcher.next('user-joined-space')).payload, { userId: 'quick' })

  // Past the join timeout that the leave armed: still open, and still answering.
  await new Promise((resolve) => setTimeout(resolve, 500))
  quick.send({ type: 'heartbeat', payload: { timestamp: 1 } })
  t.match((await quick.next('heartbeat')).payload, { timestamp: 1 }, 'the second join stopped the join timeout')
})

t.test('moves sent before space-joined arrives are applied after the join, in order', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'room', width: 30, height: 1 })
  const watcher = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const walker = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => Promise.all([watcher.close(), walker.close()]))
  await watcher.join('room', plaza.token({ userId: 'watcher' }))
  // Where the walker will stand is not known before the join: it leaves a ghost at x = 10 to resume.
  await plaza.redis.hset(`${plaza.prefix}space:room:users`, 'walker', JSON.stringify({ username: 'walker', x: 10, y: 0, connectionId: 'old', lastUpdated: Date.now(), connected: false }))

  walker.send({ type: 'join', payload: { spaceId: 'room', token: plaza.token({ userId: 'walker' }) } })
  for (const x of [11, 12, 13]) walker.send({ type: 'move', payload: { x, y: 0 } })
  t.match((await walker.next('space-joined')).payload, { spawn: { x: 10, y: 0 }, resumed: true })
  await watcher.waitFor('user-joined-space')
  const moves = [(await watcher.next('user-moved')).payload, (await watcher.next('user-moved')).payload, (await watcher.next('user-moved')).payload]
  t.same(moves.map((m) => m.x), [11, 12, 13])
})
