import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { settle } from './helpers/app.js'
import { TestClient } from './helpers/client.js'
import { PrivateRedis } from './helpers/private-redis.js'
import { startServer } from './helpers/process.js'

/** Chat while Redis is away (PROTOCOL §9): delivered live where it can be, written back when Redis returns. */

const sign = createSigner({ key: 'chat-outage-secret' })
const admin = { authorization: 'Bearer chat-outage-admin', 'content-type': 'application/json' }
interface ChatMessage { id: string, userId: string, text: string }

async function setup (t: Test) {
  const redis = await PrivateRedis.start(t)
  const env = {
    REDIS_URL: redis.url,
    JWT_SECRET: 'chat-outage-secret',
    ADMIN_TOKEN: 'chat-outage-admin',
    REDIS_COMMAND_TIMEOUT_MS: 300,
    SERVER_HEARTBEAT_MS: 500,
    SERVER_DEAD_AFTER_MS: 10_000
  }
  const [s1, s2] = await Promise.all([startServer(t, env), startServer(t, env)])
  t.equal((await fetch(`${s1.http}/admin/spaces/hall`, { method: 'PUT', headers: admin, body: JSON.stringify({ width: 10, height: 10 }) })).status, 201)
  const client = async (server: typeof s1, userId: string): Promise<TestClient> => {
    const c = await TestClient.connect(`${server.ws}/ws`, 'plaza.v1')
    t.teardown(() => c.close())
    await c.join('hall', sign({ userId }))
    return c
  }
  const alice = await client(s1, 'alice')
  const carol = await client(s1, 'carol')
  const bob = await client(s2, 'bob')
  const history = async (): Promise<ChatMessage[]> => {
    const reply = await fetch(`${s2.http}/admin/spaces/hall/chat?limit=100`, { headers: admin })
    return reply.status === 200 ? (await reply.json() as { messages: ChatMessage[] }).messages : []
  }
  return { redis, s1, s2, alice, carol, bob, history }
}

t.test('Redis down: a chat reaches its server\'s users at once, and the history with the same id when Redis is back', async (t) => {
  const { redis, alice, carol, bob, history } = await setup(t)
  await redis.stop('SIGKILL')
  alice.send({ type: 'chat', payload: { text: 'anyone there?' } })
  alice.send({ type: 'chat', payload: { text: 'still here' } })
  const own = [(await alice.waitFor('chat-message', 3000)).payload, (await alice.waitFor('chat-message', 3000)).payload] as unknown as ChatMessage[]
  t.same(own.map((m) => m.text), ['anyone there?', 'still here'], 'the sender gets them, in order')
  t.same([(await carol.waitFor('chat-message', 3000)).payload, (await carol.waitFor('chat-message', 3000)).payload], own, 'so does a peer on the same server, with the same ids')
  t.notOk((await bob.quiet()).some((f) => f.type === 'chat-message'), 'another server cannot hear it without Redis')
  carol.send({ type: 'chat-history', payload: { limit: 1 } })
  t.same((await carol.waitFor('chat-history', 3000)).payload, { messages: own.slice(1), more: true }, 'history without Redis: what the server holds')
  carol.send({ type: 'chat-history', payload: { before: 'not-held' } })
  t.match((await carol.waitFor('error', 3000)).payload, { code: 'invalid-message' }, 'a before it does not hold is refused')

  await redis.start()
  const kept = await settle(history, (messages) => messages.length === 2, 10_000)
  t.same(kept.map((m) => ({ id: m.id, text: m.text })), own.map((m) => ({ id: m.id, text: m.text })), 'written back in order, with the ids they were sent with')

  // Served again through Redis: everyone hears the next one once.
  alice.send({ type: 'chat', payload: { text: 'back' } })
  for (const c of [alice, carol, bob]) t.equal((await c.waitFor('chat-message', 5000)).payload.text, 'back')
  const all = await settle(history, (messages) => messages.length === 3, 5000)
  t.same(all.map((m) => m.text), ['anyone there?', 'still here', 'back'], 'and the history keeps this server\'s order')
  const erin = await TestClient.connect(bob.socket.url, 'plaza.v1')
  t.teardown(() => erin.close())
  const joined = await erin.join('hall', sign({ userId: 'erin' }))
  t.same((joined.chat as ChatMessage[]).map((m) => m.id), all.map((m) => m.id), 'a joiner on the other server reads it all')
})

t.test('Redis frozen: a chat delivered at once is not delivered twice here nor stored twice when Redis wakes', async (t) => {
  const { redis, alice, carol, bob, history } = await setup(t)
  redis.signal('SIGSTOP')
  t.teardown(() => redis.signal('SIGCONT'))
  alice.send({ type: 'chat', payload: { text: 'frozen' } })
  const own = (await alice.waitFor('chat-message', 3000)).payload as unknown as ChatMessage
  t.equal(own.text, 'frozen', 'delivered here once the append timed out')
  t.equal((await carol.waitFor('chat-message', 3000)).payload.id, own.id)
  redis.signal('SIGCONT')
  // The append ran after all when Redis woke: the other server hears it then; this one not again.
  t.equal((await bob.waitFor('chat-message', 5000)).payload.text, 'frozen', 'the other server hears it once Redis runs the append')
  alice.send({ type: 'chat', payload: { text: 'thawed' } })
  for (const c of [alice, carol, bob]) t.equal((await c.waitFor('chat-message', 5000)).payload.text, 'thawed')
  t.same((await alice.quiet()).filter((f) => f.type === 'chat-message'), [], 'the sender saw "frozen" once')
  t.same((await carol.quiet()).filter((f) => f.type === 'chat-message'), [], 'so did its peer')
  t.same((await history()).map((m) => m.text), ['frozen', 'thawed'], 'stored once')
  alice.send({ type: 'chat-history', payload: { before: own.id } })
  t.same((await alice.waitFor('chat-history', 3000)).payload, { messages: [], more: false }, 'the id the sender\'s server gave it still names it in the history')
})
