import t, { type Test } from 'tap'
import { ADMIN_TOKEN, settle, startApp, type TestApp } from './helpers/app.js'
import { type Frame, TestClient } from './helpers/client.js'
import { sampleValue, scrape } from './helpers/metrics.js'

/** Chat on one server (PROTOCOL §9): delivery, refusals, history, the admin routes. */

const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` }

interface ChatMessage { id: string, userId: string, username: string, text: string, sentAt: number }

async function client (t: Test, app: TestApp, userId: string, spaceId = 'hall', dialect = 'plaza.v1'): Promise<{ c: TestClient, joined: Frame['payload'] }> {
  const c = await TestClient.connect(`${app.wsBase}/ws`, dialect)
  t.teardown(() => c.close())
  const joined = await c.join(spaceId, app.token({ userId, username: userId.toUpperCase() }))
  return { c, joined }
}

/** Sends a chat and returns what the sender is sent back for it. */
async function say (c: TestClient, text: unknown): Promise<Frame> {
  c.send({ type: 'chat', payload: { text } })
  return await c.waitFor('chat-message').catch(() => ({ type: 'none', payload: {} }))
}

t.test('a chat reaches everyone in the space once, the sender too, verbatim after the cleaning; metaverse hears none', async (t) => {
  const app = await startApp(t)
  await app.defineSpace({ id: 'hall' })
  await app.defineSpace({ id: 'yard' })
  const { c: alice } = await client(t, app, 'alice')
  const { c: bob } = await client(t, app, 'bob')
  const { c: mia } = await client(t, app, 'mia', 'hall', 'metaverse')
  const { c: yard } = await client(t, app, 'yann', 'yard')
  await alice.waitFor('user-joined-space')
  await alice.waitFor('user-joined-space')

  const before = Date.now()
  alice.send({ type: 'chat', payload: { text: '  <b>hi</b> & <script>x</script>\u0007\n\tthere\u0000  ', userId: 'mallory' } })
  const own = (await alice.next('chat-message')).payload as unknown as ChatMessage
  t.match(own, { userId: 'alice', username: 'ALICE', text: '<b>hi</b> & <script>x</script>\n\tthere' }, 'cleaned: controls but \\n and \\t gone, trimmed; markup kept')
  t.same(Object.keys(own), ['id', 'userId', 'username', 'text', 'sentAt'], 'exactly the fields of PROTOCOL §9')
  t.type(own.id, 'string')
  t.ok(own.sentAt >= before && own.sentAt <= Date.now(), 'sentAt is the server\'s clock, in ms')
  t.same((await bob.waitFor('chat-message')).payload, own, 'the peer gets the same message')
  t.same(await bob.quiet(), [], 'once')
  t.same(await alice.quiet(), [], 'the sender once too')
  t.notOk((await mia.quiet()).some((f) => f.type === 'chat-message'), 'a metaverse client is sent no chat')
  t.same(await yard.quiet(), [], 'another space hears nothing')

  mia.send({ type: 'chat', payload: { text: 'from metaverse' } })
  mia.send({ type: 'chat-history', payload: {} })
  mia.send({ type: 'active', payload: {} })
  t.same(await mia.quiet(), [], 'metaverse: chat, chat-history and active are unknown types there, ignored')
  t.equal(mia.socket.readyState, mia.socket.OPEN)
  t.same(await alice.quiet(), [], 'and nobody else hears of it')
  t.equal(await app.redis.xlen(`${app.prefix}space:hall:chat`), 1, 'only the accepted message is stored')
})

t.test('refused chats get an error, reach nobody, are not stored and do not count', async (t) => {
  const app = await startApp(t, { MAX_CHATS_PER_10S: 3, MAX_CHAT_CHARS: 10 })
  await app.defineSpace({ id: 'hall' })
  const { c: alice } = await client(t, app, 'alice')
  const { c: bob } = await client(t, app, 'bob')
  await alice.waitFor('user-joined-space')

  const refusals: Array<[string, unknown]> = [
    ['empty', ''], ['only spaces and controls', ' \u0000\n '], ['too long (11 code points)', 'x'.repeat(11)],
    ['a number', 42], ['null', null], ['an object', { text: 'hi' }]
  ]
  for (const [what, text] of refusals) {
    alice.send({ type: 'chat', payload: { text } })
    t.match((await alice.next('error')).payload, { code: 'invalid-message' }, `${what}: invalid-message`)
  }
  alice.send({ type: 'chat', payload: {} })
  t.match((await alice.next('error')).payload, { code: 'invalid-message' }, 'no text at all: invalid-message')
  t.equal((await say(alice, '😀'.repeat(10))).type, 'chat-message', '10 emoji are 10 code points: accepted')
  t.equal((await say(alice, 'two')).type, 'chat-message')
  t.equal((await say(alice, 'three')).type, 'chat-message', 'the refused ones did not count against the limit')
  alice.send({ type: 'chat', payload: { text: 'four' } })
  t.match((await alice.next('error')).payload, { code: 'rate-limited' }, 'the fourth within 10 s: rate-limited')
  t.notOk('close' in ((await alice.quiet()).at(0)?.payload ?? {}), 'no close follows')
  t.equal(alice.socket.readyState, alice.socket.OPEN, 'the socket stays open')
  const heard = (await bob.quiet()).filter((f) => f.type === 'chat-message').map((f) => f.payload.text)
  t.same(heard, ['😀'.repeat(10), 'two', 'three'], 'the peer heard the accepted ones only')
  t.equal(await app.redis.xlen(`${app.prefix}space:hall:chat`), 3, 'only they are stored')
  const metrics = await scrape(app.httpBase)
  t.same(['accepted', 'invalid-message', 'rate-limited'].map((result) => sampleValue(metrics, 'plaza_chat_messages_total', { result })), [3, 3, 1],
    'counted on /metrics by result (a text that is not a string is refused before it is read as a chat)')
})

t.test('history: the last messages in space-joined.chat, older pages with chat-history, the stream capped and expiring', async (t) => {
  const app = await startApp(t, { CHAT_HISTORY_ON_JOIN: 5, MAX_CHATS_PER_10S: 1000, MAX_MESSAGES_PER_S: 1000, CHAT_TTL_S: 3600 })
  await app.defineSpace({ id: 'hall' })
  const { c: alice, joined } = await client(t, app, 'alice')
  t.same(joined.chat, [], 'a space without messages: chat is []')
  for (let i = 1; i <= 12; i++) alice.send({ type: 'chat', payload: { text: `m${i}` } })
  const sent: ChatMessage[] = []
  for (let i = 1; i <= 12; i++) sent.push((await alice.next('chat-message')).payload as unknown as ChatMessage)
  t.same(sent.map((m) => m.text), Array.from({ length: 12 }, (_, i) => `m${i + 1}`), 'delivered in the order sent')

  const { c: bob, joined: bobJoined } = await client(t, app, 'bob')
  t.same(bobJoined.chat, sent.slice(-5), 'a joiner gets the last CHAT_HISTORY_ON_JOIN, oldest first, as they were delivered')
  bob.send({ type: 'chat-history', payload: { before: sent[7]?.id, limit: 3 } })
  t.same((await bob.next('chat-history')).payload, { messages: sent.slice(4, 7), more: true }, 'the page before m8: m5..m7, more')
  bob.send({ type: 'chat-history', payload: { before: sent[2]?.id, limit: 5 } })
  t.same((await bob.next('chat-history')).payload, { messages: sent.slice(0, 2), more: false }, 'the first page: more is false')
  bob.send({ type: 'chat-history', payload: {} })
  t.same((await bob.next('chat-history')).payload, { messages: sent, more: false }, 'without before: the newest page (50 by default)')
  bob.send({ type: 'chat-history', payload: { limit: 2 } })
  t.same((await bob.next('chat-history')).payload, { messages: sent.slice(-2), more: true }, 'a limit')
  bob.send({ type: 'chat-history', payload: { before: '99999999999999-0' } })
  t.match((await bob.next('error')).payload, { code: 'invalid-message' }, 'an unknown before: invalid-message')
  bob.send({ type: 'chat-history', payload: { before: 'nonsense' } })
  t.match((await bob.next('error')).payload, { code: 'invalid-message' }, 'a before that is no id at all: invalid-message')

  const key = `${app.prefix}space:hall:chat`
  const ttl = await app.redis.ttl(key)
  t.ok(ttl > 3500 && ttl <= 3600, `the stream expires CHAT_TTL_S after the last message (ttl ${ttl})`)
  t.equal(await app.redis.type(key), 'stream', 'a Redis Stream per space')
})

t.test('the stream is capped at about CHAT_HISTORY_MAX', async (t) => {
  const app = await startApp(t, { CHAT_HISTORY_MAX: 10, MAX_CHATS_PER_10S: 1000, MAX_MESSAGES_PER_S: 1000 })
  await app.defineSpace({ id: 'hall' })
  const { c: alice } = await client(t, app, 'alice')
  for (let i = 0; i < 400; i++) alice.send({ type: 'chat', payload: { text: `m${i}` } })
  for (let i = 0; i < 400; i++) await alice.next('chat-message', 5000)
  const length = await app.redis.xlen(`${app.prefix}space:hall:chat`)
  // XADD MAXLEN ~ trims whole macro nodes (100 entries by default): about, not exactly.
  t.ok(length >= 10 && length <= 110, `400 sent, ${length} kept`)
})

t.test('admin: read the last N, delete the history for everyone; a deleted space takes its chat along', async (t) => {
  const app = await startApp(t, { MAX_CHATS_PER_10S: 1000, MAX_MESSAGES_PER_S: 1000 })
  await app.defineSpace({ id: 'hall' })
  const { c: alice } = await client(t, app, 'alice')
  for (let i = 1; i <= 4; i++) await say(alice, `m${i}`)

  const read = async (query = ''): Promise<{ status: number, body: { messages?: ChatMessage[] } }> => {
    const reply = await fetch(`${app.httpBase}/admin/spaces/hall/chat${query}`, { headers: ADMIN })
    return { status: reply.status, body: await reply.json() as { messages?: ChatMessage[] } }
  }
  t.same((await read()).body.messages?.map((m) => m.text), ['m1', 'm2', 'm3', 'm4'], 'oldest first')
  t.same((await read('?limit=2')).body.messages?.map((m) => m.text), ['m3', 'm4'], 'the last N')
  t.same((await read('?limit=0')).body.messages?.map((m) => m.text), ['m4'], 'limit clamped up to 1')
  t.equal((await read('?limit=5000')).body.messages?.length, 4, 'and down to 1000')
  t.equal((await fetch(`${app.httpBase}/admin/spaces/hall/chat`)).status, 401, 'admin only')
  t.equal((await fetch(`${app.httpBase}/admin/spaces/nowhere/chat`, { headers: ADMIN })).status, 404, 'unknown space')

  t.equal((await fetch(`${app.httpBase}/admin/spaces/hall/chat`, { method: 'DELETE', headers: ADMIN })).status, 204)
  t.same((await read()).body.messages, [], 'gone from Redis')
  const { joined } = await client(t, app, 'bob')
  t.same(joined.chat, [], 'and from what the server held for joiners')

  await say(alice, 'again')
  t.equal(await app.redis.exists(`${app.prefix}space:hall:chat`), 1)
  t.equal((await fetch(`${app.httpBase}/admin/spaces/hall`, { method: 'DELETE', headers: ADMIN })).status, 204)
  t.equal(await app.redis.exists(`${app.prefix}space:hall:chat`), 0, 'deleting the space deletes its chat')
})

t.test('chat counts as activity: a chat-history does not', async (t) => {
  const app = await startApp(t, { IDLE_AFTER_MS: 100_000 })
  await app.defineSpace({ id: 'hall' })
  const { c: alice } = await client(t, app, 'alice')
  const { c: bob, joined } = await client(t, app, 'bob')
  await alice.waitFor('user-joined-space')
  const first = (joined.users as Array<{ userId: string, lastActive: number }>).find((u) => u.userId === 'alice')?.lastActive ?? 0
  await new Promise((resolve) => setTimeout(resolve, 20))
  await say(alice, 'hello')
  await bob.waitFor('chat-message')
  const { joined: later } = await client(t, app, 'carol')
  const after = (later.users as Array<{ userId: string, lastActive: number }>).find((u) => u.userId === 'alice')?.lastActive ?? 0
  t.ok(after > first, 'lastActive moved with the chat')
  const stored = await settle(async () => (await app.usersInRedis('hall')).alice, (e) => e?.lastActive === after, 5000)
  t.equal(stored?.lastActive, after, 'the Redis entry holds lastActive too')
})

t.test('a resume and a take-over get the history too', async (t) => {
  const app = await startApp(t)
  await app.defineSpace({ id: 'hall' })
  const { c: alice } = await client(t, app, 'alice')
  await say(alice, 'remember me')
  const { c: tab, joined: tookOver } = await client(t, app, 'alice')
  t.equal(tookOver.resumed, true)
  t.same((tookOver.chat as ChatMessage[]).map((m) => m.text), ['remember me'], 'a take-over')
  await alice.closed
  await tab.close()
  await settle(() => app.usersInRedis('hall'), (users) => users.alice?.connected === false)
  const { joined: back } = await client(t, app, 'alice')
  t.equal(back.resumed, true)
  t.same((back.chat as ChatMessage[]).map((m) => m.text), ['remember me'], 'a resume')
})

t.test('a chat still reaches everyone here when the server\'s Pub/Sub connection was cut: caught up from the stream', async (t) => {
  const app = await startApp(t)
  await app.defineSpace({ id: 'hall' })
  const { c: alice } = await client(t, app, 'alice')
  const { c: bob } = await client(t, app, 'bob')
  await say(alice, 'before')
  await bob.waitFor('chat-message')
  const subscriber = app.app.redis.subscriber
  if (subscriber === undefined) throw new Error('no subscriber')
  subscriber.stream.destroy()
  alice.send({ type: 'chat', payload: { text: 'while cut' } })
  t.equal((await alice.waitFor('chat-message', 8000)).payload.text, 'while cut', 'the sender gets it')
  t.equal((await bob.waitFor('chat-message', 8000)).payload.text, 'while cut', 'so does its peer')
  await say(alice, 'after')
  t.same((await bob.quiet()).filter((f) => f.type === 'chat-message').map((f) => f.payload.text), ['after'], 'once each, in order')
})
