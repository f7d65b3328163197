/**
 * The client library's chat and activity (PROTOCOL §9, §10) against a real server: sendChat and the
 * `chat` event, the history a join brings and older pages, refusals, and idle peers.
 */
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { type ChatMessage, PlazaClient, type PlazaClientOptions } from '../client/index.js'
import { JWT_SECRET, startApp } from './helpers/app.js'
import { next } from './helpers/plaza-events.js'
import { startProxy } from './helpers/tcp-proxy.js'

const sign = createSigner({ key: JWT_SECRET, algorithm: 'HS256' })
const tokenFor = (userId: string): string => sign({ userId, username: userId.toUpperCase() })

const FAST = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0, maxAttempts: 5 }

/** A client of the library under test, with every chat message it was told recorded; closed at teardown. */
function plaza (test: Test, url: string, userId: string, options: Partial<PlazaClientOptions> = {}) {
  const client = new PlazaClient({ url: `${url}/ws`, token: tokenFor(userId), WebSocket, reconnect: FAST, ...options })
  const told: ChatMessage[] = []
  client.on('chat', (message) => told.push(message))
  test.teardown(() => client.close())
  return { client, told }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const texts = (messages: readonly ChatMessage[]) => messages.map((m) => m.text)

t.test('a chat goes to everyone in the space, the sender included, as plain text, once', async (t) => {
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'talk' })
  const { client: alice, told: aliceTold } = plaza(t, wsBase, 'alice')
  const { client: bob, told: bobTold } = plaza(t, wsBase, 'bob')
  t.equal(alice.sendChat('too early'), false, 'not in a space: not sent')
  await alice.join('talk')
  await bob.join('talk')
  t.same(alice.chat, [], 'a space with no chat yet')

  const heard = next(bob, 'chat')
  const echoed = next(alice, 'chat')
  t.equal(alice.sendChat('  hello <b>Bob</b>\u0007 '), true)
  const [atBob, atAlice] = await Promise.all([heard, echoed])
  t.match(atBob, { userId: 'alice', username: 'ALICE', text: 'hello <b>Bob</b>' }, 'cleaned by the server, markup kept as text')
  t.type(atBob.id, 'string')
  t.type(atBob.sentAt, 'number')
  t.same(atAlice, atBob, 'the sender gets the same message')
  t.same(texts(bob.chat), ['hello <b>Bob</b>'])
  t.same(texts(alice.chat), ['hello <b>Bob</b>'])

  const reply = next(alice, 'chat')
  t.equal(bob.sendChat('hi Alice'), true)
  t.equal((await reply).userId, 'bob')
  t.same(texts(alice.chat), ['hello <b>Bob</b>', 'hi Alice'], 'in the order the server took them')
  await sleep(100)
  t.same(texts(aliceTold), texts(alice.chat), 'a chat event per message, no more')
  t.same(texts(bobTold), texts(bob.chat))

  alice.close()
  t.equal(alice.sendChat('after close'), false, 'closed: not sent, not queued')
  t.equal(alice.queue.size, 0)
})

t.test('a join brings the last messages; older pages come with loadOlderChat until the start', async (t) => {
  const { wsBase, defineSpace } = await startApp(t, { CHAT_HISTORY_ON_JOIN: 5, MAX_CHATS_PER_10S: 100 })
  await defineSpace({ id: 'history' })
  const { client: alice } = plaza(t, wsBase, 'alice')
  await alice.join('history')
  for (let n = 1; n <= 12; n++) alice.sendChat(`message ${n}`)
  await next(alice, 'chat', (m) => m.text === 'message 12')

  const { client: carol, told } = plaza(t, wsBase, 'carol')
  const joined = await carol.join('history')
  t.same(texts(joined.chat), ['message 8', 'message 9', 'message 10', 'message 11', 'message 12'], 'oldest first')
  t.same(texts(carol.chat), texts(joined.chat))
  t.same(told, [], 'history on a first join is not news: no chat event')
  t.equal(carol.moreChat, undefined, 'not known yet')

  const page = await carol.loadOlderChat(4)
  t.same(texts(page?.messages ?? []), ['message 4', 'message 5', 'message 6', 'message 7'])
  t.equal(page?.more, true)
  t.equal(carol.moreChat, true)
  t.same(texts(carol.chat).slice(0, 5), ['message 4', 'message 5', 'message 6', 'message 7', 'message 8'], 'put before what was held')

  const [last, same] = [carol.loadOlderChat(), carol.loadOlderChat()]
  t.equal(last, same, 'one request at a time')
  t.same(texts((await last)?.messages ?? []), ['message 1', 'message 2', 'message 3'])
  t.equal(carol.moreChat, false, 'the start is reached')
  t.equal(carol.chat.length, 12)
  t.same(new Set(carol.chat.map((m) => m.id)).size, 12, 'no message twice')
  t.same(await carol.loadOlderChat(), { messages: [], more: false }, 'at the start: an empty page at once')
  t.throws(() => carol.loadOlderChat(0), RangeError)
  t.throws(() => carol.loadOlderChat(101), RangeError)

  const history = next(carol, 'chat-history', () => true, 300).catch(() => 'none')
  await carol.loadOlderChat()
  t.equal(await history, 'none', 'nothing was asked of the server')
})

t.test('a refused chat is told to its sender as chat-refused, with the server\'s code and message; it reaches nobody', async (t) => {
  const { wsBase, defineSpace } = await startApp(t, { MAX_CHATS_PER_10S: 2 })
  await defineSpace({ id: 'refusals' })
  const { client: alice } = plaza(t, wsBase, 'alice')
  const { client: bob, told: bobTold } = plaza(t, wsBase, 'bob')
  await alice.join('refusals')
  await bob.join('refusals')
  const errors: string[] = []
  alice.on('error', (e) => errors.push(e.code))

  const tooLong = next(alice, 'chat-refused')
  t.equal(alice.sendChat('x'.repeat(501)), true, 'sent: only the server knows its limit')
  const refusal = await tooLong
  t.equal(refusal.code, 'invalid-message')
  t.equal(refusal.text, 'x'.repeat(501), 'the refused text, as it was given')
  t.type(refusal.message, 'string')
  t.ok(refusal.message.length > 0, `the server says why: ${refusal.message}`)
  t.same(await next(alice, 'chat-refused', () => true, 100).catch(() => undefined), undefined, 'once')

  const blank = next(alice, 'chat-refused')
  alice.sendChat(' \n\t ')
  t.equal((await blank).code, 'invalid-message', 'nothing left once cleaned')

  t.ok(alice.sendChat('one') && alice.sendChat('two'))
  await next(alice, 'chat', (m) => m.text === 'two')
  const limited = next(alice, 'chat-refused')
  alice.sendChat('three')
  t.match(await limited, { code: 'rate-limited', text: 'three' })

  t.equal(alice.status.status, 'connected', 'the socket stays open')
  await sleep(200)
  t.same(texts(bobTold), ['one', 'two'], 'the refused ones reached nobody')
  t.same(texts(alice.chat), ['one', 'two'])
  t.same(errors, ['invalid-message', 'invalid-message', 'rate-limited'], 'each refusal is an error event too')
})

t.test('a refusal that overtakes the acceptance of a chat sent before it carries the refused text', async (t) => {
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'overtaken' })
  const { client: alice } = plaza(t, wsBase, 'alice')
  await alice.join('overtaken')
  const tooLong = 'y'.repeat(501)
  const refused = next(alice, 'chat-refused')
  const accepted = next(alice, 'chat')
  // Both in one go: the refusal is sent as the second is read, the first comes back after Redis.
  t.ok(alice.sendChat(' \tfine ') && alice.sendChat(tooLong))
  const refusal = await refused
  t.match(refusal, { code: 'invalid-message', text: tooLong })
  t.equal((await accepted).text, 'fine')
  t.same(await next(alice, 'chat-refused', () => true, 200).catch(() => undefined), undefined, 'one refusal')
  t.same(texts(alice.chat), ['fine'])
})

t.test('messages said while a client was away come as chat events once it is back, none twice', async (t) => {
  const { wsBase, defineSpace } = await startApp(t)
  await defineSpace({ id: 'away' })
  const proxy = await startProxy(t, Number(new URL(wsBase).port))
  const { client: alice, told } = plaza(t, `ws://127.0.0.1:${proxy.port}`, 'alice')
  const { client: bob } = plaza(t, wsBase, 'bob')
  await alice.join('away')
  await bob.join('away')
  bob.sendChat('before')
  await next(alice, 'chat', (m) => m.text === 'before')

  const lost = next(alice, 'close')
  proxy.cut()
  await lost
  t.equal(alice.sendChat('while away'), false, 'not connected: not sent')
  bob.sendChat('meanwhile 1')
  bob.sendChat('meanwhile 2')
  await next(bob, 'chat', (m) => m.text === 'meanwhile 2')
  proxy.restore()
  const back = await next(alice, 'space-joined', () => true, 8000)
  t.same(texts(back.chat), ['before', 'meanwhile 1', 'meanwhile 2'])
  await sleep(100)
  t.same(texts(alice.chat), ['before', 'meanwhile 1', 'meanwhile 2'], 'one entry per message')
  t.same(texts(told), ['before', 'meanwhile 1', 'meanwhile 2'], 'each told once: live, or on the way back')
})

t.test('idle: a peer with no activity for IDLE_AFTER_MS shows idle; a move or markActive() brings them back', async (t) => {
  const { wsBase, defineSpace } = await startApp(t, { IDLE_AFTER_MS: 1500 })
  await defineSpace({ id: 'idle', width: 10, height: 10 })
  const { client: alice } = plaza(t, wsBase, 'alice')
  const { client: bob } = plaza(t, wsBase, 'bob', { activeIntervalMs: 1000 })
  await alice.join('idle')
  const bobHere = next(alice, 'user-joined-space')
  const bobJoined = await bob.join('idle')
  await bobHere
  t.match(alice.users.get('bob'), { idle: false }, 'joining is activity')

  const sleepy = await next(alice, 'user-idle', (e) => e.userId === 'bob', 5000)
  t.equal(sleepy.idle, true)
  t.match(alice.users.get('bob'), { idle: true, lastActive: sleepy.lastActive })
  t.ok(Math.abs(sleepy.lastActive - Date.now()) < 5000, 'lastActive is a time in ms')
  const { client: carol } = plaza(t, wsBase, 'carol')
  const carolJoined = await carol.join('idle')
  t.match(carolJoined.users.find((u) => u.userId === 'bob'), { idle: true, lastActive: sleepy.lastActive }, 'a joiner is told who is idle')

  const awake = next(alice, 'user-idle', (e) => e.userId === 'bob')
  t.equal(bob.markActive(), true, 'idle for longer than activeIntervalMs: sent')
  t.equal(bob.markActive(), false, 'again at once: not sent')
  const back = await awake
  t.equal(back.idle, false)
  t.ok(back.lastActive > sleepy.lastActive)
  t.match(alice.users.get('bob'), { idle: false, lastActive: back.lastActive })

  // Idle again, then a move: the move itself makes Bob active, told before his user-moved.
  await next(alice, 'user-idle', (e) => e.userId === 'bob' && e.idle, 5000)
  const order: string[] = []
  alice.on('user-idle', () => order.push('user-idle'))
  alice.on('user-moved', () => order.push('user-moved'))
  const moved = next(alice, 'user-moved')
  const { x, y } = bobJoined.spawn
  bob.move(x + (x + 1 < 10 ? 1 : -1), y)
  await moved
  t.same(order, ['user-idle', 'user-moved'])
  t.match(alice.users.get('bob'), { idle: false })
  t.equal(bob.markActive(), false, 'just moved: no need to say so')
})
