import t from 'tap'
import type { Test } from 'tap'
import { startApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

/** Opens `count` WebSockets to `url` at once; resolves to how many upgrades were accepted. */
async function openAll (t: Test, url: string, count: number): Promise<number> {
  const results = await Promise.allSettled(Array.from({ length: count }, () => TestClient.connect(url)))
  const open = results.flatMap((r) => r.status === 'fulfilled' ? [r.value] : [])
  t.teardown(() => Promise.all(open.map((c) => c.close())))
  return open.length
}

// A whole office behind one NAT address is one address: a presence server must admit it (PROTOCOL §8).
t.test('by default one address has no connection limit: 70 sockets from 127.0.0.1 are all accepted', async (t) => {
  const plaza = await startApp(t)
  t.equal(plaza.app.config.MAX_CONNECTIONS_PER_IP, 0, 'the default is 0')
  t.equal(await openAll(t, `${plaza.wsBase}/ws`, 70), 70, 'all 70 upgrades accepted')
})

t.test('MAX_CONNECTIONS_PER_IP=0 set explicitly means no limit too', async (t) => {
  const plaza = await startApp(t, { MAX_CONNECTIONS_PER_IP: 0 })
  t.equal(await openAll(t, `${plaza.wsBase}/ws`, 70), 70, 'all 70 upgrades accepted')
})

t.test('a limit the operator sets still refuses the upgrade over it with 429', async (t) => {
  const plaza = await startApp(t, { MAX_CONNECTIONS_PER_IP: 2 })
  t.equal(await openAll(t, `${plaza.wsBase}/ws`, 2), 2, 'two are accepted')
  await t.rejects(TestClient.connect(`${plaza.wsBase}/ws`), /upgrade refused: 429/, 'the third is refused')
})
