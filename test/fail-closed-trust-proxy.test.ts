import t from 'tap'
import { buildApp } from '../server/app.js'
import { isolate, startApp, testEnv, type Env } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

const from = (clientAddress: string) => ({ 'x-forwarded-for': clientAddress })

t.test('a hop count, true, or a range of every address in TRUST_PROXY stops the start, naming TRUST_PROXY', async (t) => {
  const { prefix } = isolate(t)
  /** Why the app would not build, or undefined (it is closed at once) when it did. */
  const refusal = async (env: Env): Promise<string | undefined> => {
    try {
      await (await buildApp(testEnv(prefix, env))).close()
      return undefined
    } catch (err) {
      return (err as Error).message
    }
  }
  for (const value of ['1', '2', 'true', '10.0.0.1, 1', '0.0.0.0/0', '::/0']) {
    t.match(await refusal({ TRUST_PROXY: value }), /TRUST_PROXY/, `TRUST_PROXY=${value} is refused`)
  }
})

t.test('a listed proxy\'s X-Forwarded-For is honoured: each client address it names is counted apart', async (t) => {
  for (const trusted of ['127.0.0.1', '127.0.0.0/8', '10.9.8.7, 127.0.0.1']) {
    const plaza = await startApp(t, { TRUST_PROXY: trusted, MAX_CONNECTIONS_PER_IP: 1 })
    const url = `${plaza.wsBase}/ws`
    const open = [await TestClient.connect(url, 'plaza.v1', from('203.0.113.1')), await TestClient.connect(url, 'plaza.v1', from('203.0.113.2'))]
    t.teardown(() => Promise.all(open.map((c) => c.close())))
    t.pass(`TRUST_PROXY=${trusted}: two clients behind the proxy are two addresses`)
    // What a client wrote before the proxy's entry is not believed: the client is the proxy's last entry.
    await t.rejects(TestClient.connect(url, 'plaza.v1', from('198.51.100.66, 203.0.113.1')), /upgrade refused: 429/,
      `TRUST_PROXY=${trusted}: the client the proxy names is counted, whatever it forged before`)
  }
})

t.test('a client that is not a listed proxy cannot forge X-Forwarded-For', async (t) => {
  for (const env of [{}, { TRUST_PROXY: '10.0.0.1' }, { TRUST_PROXY: '10.0.0.0/8' }] as Env[]) {
    const plaza = await startApp(t, { ...env, MAX_CONNECTIONS_PER_IP: 1 })
    const url = `${plaza.wsBase}/ws`
    const first = await TestClient.connect(url, 'plaza.v1', from('203.0.113.1'))
    t.teardown(() => first.close())
    await t.rejects(TestClient.connect(url, 'plaza.v1', from('203.0.113.2')), /upgrade refused: 429/,
      `${JSON.stringify(env)}: 127.0.0.1 is one address whatever it writes in X-Forwarded-For`)
  }
})
