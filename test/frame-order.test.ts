import t from 'tap'
import { startApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

/**
 * A connection handles its frames in the order they came, whatever state each leaves it in (frames
 * held during one join: join-move.test.ts).
 */

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
