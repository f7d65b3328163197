import t, { type Test } from 'tap'
import type { Redis } from 'ioredis'
import { ClusterBus } from '../src/cluster/cluster-bus.js'
import { redisKeys } from '../src/keys.js'
import type { Logger } from '../src/logger.js'
import { settle } from './helpers/app.js'
import { PrivateRedis } from './helpers/private-redis.js'

/** The cluster bus on its own, against a Redis of each test's own (the servers' view: test/cluster.test.ts). */

const log: Logger = { level: 'silent', debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

async function busOn (t: Test): Promise<{ bus: ClusterBus, redis: Redis, subscribes: () => Promise<number>, subscribers: (spaceId: string) => Promise<number> }> {
  const server = await PrivateRedis.start(t)
  const redis = server.client(t)
  const subscriber = server.client(t)
  // Connected first: the bus resubscribes on every 'ready', which would count here.
  await subscriber.ping()
  const bus = new ClusterBus({ publisher: redis, subscriber, keys: redisKeys('sub:'), serverId: 'sub-1', log, subscribeWaitMs: 2000 })
  t.teardown(() => bus.close())
  await redis.config('RESETSTAT')
  return {
    bus,
    redis,
    subscribes: async () => Number(/^cmdstat_subscribe:calls=(\d+)/m.exec(await redis.info('commandstats'))?.[1] ?? 0),
    subscribers: async (spaceId) => Number(((await redis.pubsub('NUMSUB', `sub:plaza:space:${spaceId}`)) as [string, number])[1])
  }
}
t.test('the spaces entered in one turn are subscribed to in one SUBSCRIBE', async (t) => {
  const { bus, redis, subscribes: count } = await busOn(t)
  await Promise.all(Array.from({ length: 30 }, (_, i) => bus.enter(`s${i}`)))
  t.equal(await count(), 1, '30 spaces, one SUBSCRIBE')
  const counts = await redis.pubsub('NUMSUB', ...Array.from({ length: 30 }, (_, i) => `sub:plaza:space:s${i}`)) as Array<string | number>
  t.ok(counts.filter((_, i) => i % 2 === 1).every((n) => Number(n) === 1), 'each channel has its subscriber')
  await bus.enter('s31')
  t.equal(await count(), 2, 'a space entered later: a SUBSCRIBE of its own')
})

t.test('a space left in the turn it was entered stays unsubscribed: its UNSUBSCRIBE is not overtaken', async (t) => {
  const { bus, subscribers } = await busOn(t)
  const entered = bus.enter('brief')
  bus.exit('brief')
  await entered
  // Entered again in one turn after leaving: subscribed, as asked last.
  const again = bus.enter('back')
  bus.exit('back')
  const back = bus.enter('back')
  await Promise.all([again, back])
  t.equal(await settle(() => subscribers('back'), (n) => n === 1), 1, 'the space entered last is subscribed')
  t.equal(await subscribers('brief'), 0, 'the space left is not')
})
