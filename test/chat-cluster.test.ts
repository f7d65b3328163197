import t from 'tap'
import type { TestClient } from './helpers/client.js'
import { ADMIN, connect, defineSpace, startCluster, token } from './helpers/cluster.js'
import { startServer } from './helpers/process.js'
import { testEnv } from './helpers/app.js'

/**
 * Chat and activity across servers (PROTOCOL §9, §10): one order for everyone whatever server they
 * are on, each message and each idle transition once, history that outlives the servers.
 */

interface ChatMessage { id: string, userId: string, text: string }

const { servers: [s1, s2], shared } = await startCluster(t, 2, {
  SERVER_HEARTBEAT_MS: 2000,
  SERVER_DEAD_AFTER_MS: 6000,
  IDLE_AFTER_MS: 1500,
  MAX_CHATS_PER_10S: 100,
  MAX_MESSAGES_PER_S: 1000
})

/** The next `count` chat messages `client` hears, skipping other frames. */
async function chats (client: TestClient, count: number): Promise<ChatMessage[]> {
  const heard: ChatMessage[] = []
  while (heard.length < count) heard.push((await client.waitFor('chat-message', 5000)).payload as unknown as ChatMessage)
  return heard
}

t.test('messages sent at once on two servers reach all four users once each, in one order, the history\'s', async (t) => {
  t.equal(await defineSpace(s1, 'forum', { width: 20, height: 20 }), 201)
  const alice = await connect(t, s1)
  const carol = await connect(t, s1)
  const bob = await connect(t, s2)
  const dave = await connect(t, s2)
  const users = { alice, carol, bob, dave }
  for (const [name, client] of Object.entries(users)) await client.join('forum', token(name))

  for (let i = 0; i < 10; i++) {
    for (const [name, client] of Object.entries(users)) client.send({ type: 'chat', payload: { text: `${name} ${i}` } })
  }
  const heard = await Promise.all(Object.values(users).map((client) => chats(client, 40)))
  const order = heard[0]?.map((m) => m.id) ?? []
  t.equal(new Set(order).size, 40, 'forty messages, forty ids')
  for (const [i, name] of Object.keys(users).entries()) {
    t.same(heard[i]?.map((m) => m.id), order, `${name} hears the same order`)
    for (const sender of Object.keys(users)) {
      t.same(heard[i]?.filter((m) => m.userId === sender).map((m) => m.text), Array.from({ length: 10 }, (_, k) => `${sender} ${k}`),
        `${name} hears ${sender}'s messages in the order sent`)
    }
  }
  for (const client of Object.values(users)) t.notOk((await client.quiet()).some((f) => f.type === 'chat-message'), 'and nothing twice')

  const reply = await fetch(`${s2.http}/admin/spaces/forum/chat?limit=100`, { headers: ADMIN })
  const { messages } = await reply.json() as { messages: ChatMessage[] }
  t.same(messages.map((m) => m.id), order, 'the history keeps that order')

  // A server that never saw them, started now, reads them from Redis for its first joiner.
  const s3 = await startServer(t, testEnv(shared.prefix, { SERVER_ID: 'server-3' }))
  const erin = await connect(t, s3)
  const joined = await erin.join('forum', token('erin'))
  t.same((joined.chat as ChatMessage[]).map((m) => m.id), order.slice(-40), 'a fresh server\'s joiner gets the history (the last 50 at most)')
})

t.test('idle transitions reach peers on every server once, and "active again" comes before the move', async (t) => {
  t.equal(await defineSpace(s1, 'lounge', { width: 20, height: 3 }), 201)
  const alice = await connect(t, s1)
  const bob = await connect(t, s2)
  const carol = await connect(t, s2)
  const meta = await connect(t, s1, 'metaverse')
  const spawn = (await alice.join('lounge', token('alice'))).spawn as { x: number, y: number }
  const joinedAt = Date.now()
  await bob.join('lounge', token('bob'))
  await carol.join('lounge', token('carol'))
  await meta.join('lounge', token('mia'))

  type Frames = Array<{ type: string, payload: Record<string, unknown> }>
  const read: Record<string, Frames> = { alice: [], bob: [], carol: [] }
  for (const [name, client] of [['bob', bob], ['carol', carol]] as const) {
    for (;;) {
      const frame = await client.next(undefined, 5000)
      read[name]?.push(frame)
      if (frame.type === 'user-idle' && frame.payload.userId === 'alice') break
    }
    const waited = Date.now() - joinedAt
    t.ok(waited >= 1400 && waited < 3500, `${name} (on another server) hears alice go idle about IDLE_AFTER_MS after her join (${waited} ms)`)
  }
  // Everyone is idle by now; each hears each other's transition once.
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const idleOf = (frames: Frames) => frames.filter((f) => f.type === 'user-idle' && f.payload.idle === true).map((f) => f.payload.userId).sort()
  t.same(idleOf([...read.alice ?? [], ...await alice.quiet()]), ['bob', 'carol', 'mia'], 'alice hears each other user go idle, once each')
  t.same(idleOf([...read.bob ?? [], ...await bob.quiet()]), ['alice', 'carol', 'mia'], 'so does bob, on the other server')
  t.same(idleOf([...read.carol ?? [], ...await carol.quiet()]), ['alice', 'bob', 'mia'], 'and carol')
  t.notOk((await meta.quiet()).some((f) => f.type === 'user-idle'), 'metaverse hears none')

  const step = { x: spawn.x + (spawn.x + 1 < 20 ? 1 : -1), y: spawn.y }
  alice.send({ type: 'move', payload: step })
  for (const [name, client] of [['bob', bob], ['carol', carol]] as const) {
    const active = await client.next('user-idle', 5000)
    t.match(active.payload, { userId: 'alice', idle: false }, `${name}: active again first`)
    t.ok((active.payload.lastActive as number) >= joinedAt)
    t.same((await client.next('user-moved')).payload, { userId: 'alice', ...step }, `${name}: then the move`)
  }
  const joined = await (await connect(t, s2)).join('lounge', token('dave'))
  const seen = joined.users as Array<{ userId: string, idle: boolean, lastActive: number }>
  t.match(seen.find((u) => u.userId === 'alice'), { idle: false }, 'a joiner on the other server sees alice active')
  t.match(seen.find((u) => u.userId === 'carol'), { idle: true }, 'and carol idle')

  // Carol (on s2) chats: alice's server hears she is back before her message, and knows when she was active.
  carol.send({ type: 'chat', payload: { text: 'back' } })
  let heard = await alice.waitFor('user-idle', 5000)
  // Others of dave's and alice's own transitions may come first.
  while (heard.payload.userId !== 'carol') heard = await alice.waitFor('user-idle', 5000)
  t.match(heard.payload, { userId: 'carol', idle: false }, 'active again, on the other server')
  const next = await alice.next('chat-message', 5000)
  t.equal(next.payload.text, 'back', 'then her message')
  const message = next.payload as { sentAt: number }
  const erin = await (await connect(t, s1)).join('lounge', token('erin'))
  const carolThere = (erin.users as Array<{ userId: string, lastActive: number, idle: boolean }>).find((u) => u.userId === 'carol')
  t.ok((carolThere?.lastActive ?? 0) >= message.sentAt - 5, 'a joiner there sees her lastActive of the chat')
  t.equal(carolThere?.idle, false)
})
