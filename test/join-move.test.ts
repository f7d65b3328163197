import t from 'tap'
import { settle, startApp } from './helpers/app.js'
import { TestClient, neighbour } from './helpers/client.js'

t.test('plaza.v1 and metaverse clients share a space and see each other join and move', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'hall', width: 12, height: 8 })
  const alice = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const bob = await TestClient.connect(`${plaza.wsBase}/`, 'metaverse')
  t.teardown(() => Promise.all([alice.close(), bob.close()]))

  const aliceJoined = await alice.join('hall', plaza.token({ userId: 'alice', username: 'Alice' }))
  t.equal(aliceJoined.userId, 'alice')
  t.same(aliceJoined.users, [], 'the first user sees nobody')
  t.equal(aliceJoined.resumed, false)
  t.same(aliceJoined.space, { id: 'hall', width: 12, height: 8, obstacles: [] })
  const spawn = aliceJoined.spawn as { x: number, y: number }

  const bobJoined = await bob.join('hall', plaza.token({ userId: 'bob', role: 'user' }))
  t.same(Object.keys(bobJoined).sort(), ['spawn', 'userId', 'users'], 'metaverse space-joined has only its three fields')
  t.same(bobJoined.users, [{ userId: 'alice', x: spawn.x, y: spawn.y }])
  const bobSpawn = bobJoined.spawn as { x: number, y: number }

  t.same((await alice.next('user-joined-space')).payload, { userId: 'bob', username: 'bob', x: bobSpawn.x, y: bobSpawn.y })

  const step = neighbour(spawn.x, spawn.y, 12)
  alice.send({ type: 'move', payload: { ...step, userId: 'mallory' } })
  t.same((await bob.next('movement')).payload, { userId: 'alice', ...step }, 'the mover is named by the token, not the payload')
  t.same(await alice.quiet(), [], 'a move is never echoed to the mover')

  const bobStep = neighbour(bobSpawn.x, bobSpawn.y, 12)
  bob.send({ type: 'move', payload: bobStep })
  t.same((await alice.next('user-moved')).payload, { userId: 'bob', ...bobStep })
})

t.test('frames sent while the join is resolved are handled after it, in the order sent', async (t) => {
  const plaza = await startApp(t)
  // 3x3, nobody in it: the centre is the only tile whose four neighbours are free, so alice spawns
  // at (1, 1) and can walk before she has heard so.
  await plaza.defineSpace({ id: 'small', width: 3, height: 3 })
  const alice = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const bob = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => Promise.all([alice.close(), bob.close()]))

  // A walk in which each step is next to the one before only: out of order, steps are refused.
  const walk = [{ x: 2, y: 1 }, { x: 2, y: 2 }, { x: 1, y: 2 }, { x: 0, y: 2 }, { x: 0, y: 1 }]
  alice.send({ type: 'join', payload: { spaceId: 'small', token: plaza.token({ userId: 'alice' }) } })
  alice.send({ type: 'heartbeat', payload: { timestamp: 1 } })
  for (const [i, step] of walk.entries()) {
    alice.send({ type: 'move', payload: step })
    if (i === 2) alice.send({ type: 'heartbeat', payload: { timestamp: 2 } })
  }
  t.match(await alice.next(), { type: 'space-joined', payload: { spawn: { x: 1, y: 1 } } }, 'the join is answered first, at the centre')
  t.match(await alice.next(), { type: 'heartbeat', payload: { timestamp: 1 } }, 'then the frames behind it, in order')
  t.match(await alice.next(), { type: 'heartbeat', payload: { timestamp: 2 } })
  t.same(await alice.quiet(), [], 'no step was refused')
  const users = (await bob.join('small', plaza.token({ userId: 'bob' }))).users
  t.match(users, [{ userId: 'alice', x: 0, y: 1 }], 'a peer finds her where the walk ends')
})

t.test('a move is refused with the first broken rule, and the mover is told where they are', async (t) => {
  const plaza = await startApp(t, { MAX_MOVES_PER_S: 3 })
  // A 4x1 corridor blocked at both ends: the free tiles are x=1 and x=2, each next to a blocked one.
  await plaza.defineSpace({ id: 'corridor', width: 4, height: 1, obstacles: [{ x: 0, y: 0, width: 1, height: 1 }, { x: 3, y: 0, width: 1, height: 1 }] })
  const alice = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const bob = await TestClient.connect(`${plaza.wsBase}/ws`, 'metaverse')
  t.teardown(() => Promise.all([alice.close(), bob.close()]))
  const joined = await alice.join('corridor', plaza.token({ userId: 'alice' }))
  await bob.join('corridor', plaza.token({ userId: 'bob' }))
  await alice.next('user-joined-space')
  let { x } = joined.spawn as { x: number }

  const rejected = async (target: { x: number, y: number }, reason: string): Promise<void> => {
    alice.send({ type: 'move', payload: target })
    t.same((await alice.next('move-rejected')).payload, { x, y: 0, reason }, `${JSON.stringify(target)} → ${reason}`)
  }
  const free = x === 1 ? 2 : 1
  const wall = x === 1 ? 0 : 3
  await rejected({ x: 5, y: 0 }, 'out-of-bounds')
  await rejected({ x: -1, y: 0 }, 'out-of-bounds')
  await rejected({ x, y: 0 }, 'not-adjacent')
  await rejected({ x: wall, y: 0 }, 'blocked')
  // Four moves so far fill (and pass) the window of 3: the next valid step is rate-limited.
  await rejected({ x: free, y: 0 }, 'rate-limited')
  t.same(await bob.quiet(), [], 'peers hear nothing of refused moves')

  // The window is one second: after it, the same step is accepted.
  await new Promise((resolve) => setTimeout(resolve, 1050))
  alice.send({ type: 'move', payload: { x: free, y: 0 } })
  t.same((await bob.next('movement')).payload, { userId: 'alice', x: free, y: 0 })
  x = free
  t.same(await alice.quiet(), [], 'accepted: no refusal, no echo')
})

t.test('metaverse movers hear movement-rejected with their position only', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'room', width: 5, height: 5 })
  const carol = await TestClient.connect(`${plaza.wsBase}/`, 'metaverse')
  t.teardown(() => carol.close())
  const joined = await carol.join('room', plaza.token({ userId: 7 }))
  t.equal(joined.userId, '7', 'a numeric userId claim is sent as a string')
  carol.send({ type: 'move', payload: { x: 99, y: 99 } })
  t.same((await carol.next('movement-rejected')).payload, joined.spawn)
})

t.test('heartbeat is answered in plaza.v1 and ignored in metaverse', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'room' })
  const a = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const b = await TestClient.connect(`${plaza.wsBase}/ws`, 'metaverse')
  t.teardown(() => Promise.all([a.close(), b.close()]))
  await a.join('room', plaza.token({ userId: 'a' }))
  await b.join('room', plaza.token({ userId: 'b' }))
  await a.next('user-joined-space')
  const before = Date.now()
  a.send({ type: 'heartbeat', payload: { timestamp: 1234 } })
  const beat = (await a.next('heartbeat')).payload
  t.equal(beat.timestamp, 1234)
  t.ok(typeof beat.serverTime === 'number' && beat.serverTime >= before, 'serverTime is the server clock')
  a.send({ type: 'heartbeat-response', payload: {} })
  b.send({ type: 'heartbeat', payload: { timestamp: 1 } })
  t.same(await a.quiet(), [], 'heartbeat-response is accepted silently')
  t.same(await b.quiet(), [], 'metaverse gets no heartbeat answer')
})

t.test('leave removes the user for everyone; the socket stays open and can join again', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'one' })
  await plaza.defineSpace({ id: 'two' })
  const alice = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const bob = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const carol = await TestClient.connect(`${plaza.wsBase}/ws`, 'metaverse')
  t.teardown(() => Promise.all([alice.close(), bob.close(), carol.close()]))
  await alice.join('one', plaza.token({ userId: 'alice' }))
  await bob.join('one', plaza.token({ userId: 'bob' }))
  await carol.join('one', plaza.token({ userId: 'carol' }))
  await alice.next('user-joined-space')
  await alice.next('user-joined-space')
  await bob.next('user-joined-space')

  bob.send({ type: 'leave', payload: {} })
  t.same((await alice.next('user-left')).payload, { userId: 'bob' })
  t.same((await carol.next('user-left')).payload, { userId: 'bob' })
  const inRedis = await settle(async () => Object.keys(await plaza.usersInRedis('one')).sort(), (ids) => ids.length === 2)
  t.same(inRedis, ['alice', 'carol'], 'gone from Redis too')

  bob.send({ type: 'move', payload: { x: 1, y: 1 } })
  t.equal((await bob.next('error')).payload.code, 'not-joined', 'a move after leave is refused, the socket stays')
  const again = await bob.join('two', plaza.token({ userId: 'bob' }))
  t.equal(again.resumed, false, 'a fresh join after a leave starts anew')
  t.same(await alice.quiet(), [], 'the other space is not told')
})
