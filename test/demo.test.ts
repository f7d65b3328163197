import { request } from 'node:http'
import { createVerifier } from 'fast-jwt'
import t from 'tap'
import { JWT_SECRET, startApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

/** The status of a GET sent with the path exactly as written (fetch would resolve the dots first). */
async function rawStatus (httpBase: string, path: string): Promise<number> {
  const { port } = new URL(httpBase)
  return await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    }).on('error', reject).end()
  })
}

const guest = (httpBase: string, body: unknown) => fetch(`${httpBase}/auth/guest`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body)
})

t.test('POST /auth/guest is not there unless GUEST_AUTH is on', async (t) => {
  const { httpBase } = await startApp(t)
  const response = await guest(httpBase, { username: 'Alice' })
  t.equal(response.status, 404)
})

t.test('POST /auth/guest hands out a token that joins as guest:<name>, the same user for the same name', async (t) => {
  const { httpBase, wsBase, defineSpace } = await startApp(t, { GUEST_AUTH: 'true', GUEST_TOKEN_TTL_S: 600 })
  await defineSpace({ id: 'demo' })
  const response = await guest(httpBase, { username: '  Alice   Liddell ' })
  t.equal(response.status, 200)
  const body = await response.json() as { token: string, userId: string, username: string, expiresIn: number }
  t.match(body, { userId: 'guest:alice liddell', username: 'Alice Liddell', expiresIn: 600 })
  const claims = createVerifier({ key: JWT_SECRET, algorithms: ['HS256'] })(body.token) as { exp: number, iat: number }
  t.equal(claims.exp - claims.iat, 600, 'expires after GUEST_TOKEN_TTL_S')

  const client = await TestClient.connect(`${wsBase}/ws`, 'plaza.v1')
  t.teardown(() => client.close())
  const joined = await client.join('demo', body.token)
  t.equal(joined.userId, 'guest:alice liddell')

  const again = await (await guest(httpBase, { username: 'alice liddell' })).json() as { userId: string }
  t.equal(again.userId, body.userId, 'signing in again with the same name is the same user (the avatar resumes)')
})

t.test('guest tokens carry the configured audience and issuer, so that they join where those are required', async (t) => {
  const { httpBase, wsBase, defineSpace } = await startApp(t, { GUEST_AUTH: 'true', JWT_AUDIENCE: 'plaza-demo', JWT_ISSUER: 'plaza-test', JWT_MAX_AGE_S: 3600 })
  await defineSpace({ id: 'strict' })
  const { token } = await (await guest(httpBase, { username: 'Alice' })).json() as { token: string }
  const client = await TestClient.connect(`${wsBase}/ws`, 'plaza.v1')
  t.teardown(() => client.close())
  t.equal((await client.join('strict', token)).userId, 'guest:alice')
})

t.test('POST /auth/guest refuses names that are blank, too long, or not names, and floods', async (t) => {
  const { httpBase } = await startApp(t, { GUEST_AUTH: 'true' })
  for (const body of [{}, { username: '' }, { username: '   ' }, { username: 'x'.repeat(33) }, { username: '<script>' }, { username: 'a\nb' }, []]) {
    const response = await guest(httpBase, body)
    t.equal(response.status, 400, `${JSON.stringify(body)} → 400`)
    t.type(((await response.json()) as { message?: unknown }).message, 'string', 'with a message that says why')
  }
  t.equal((await guest(httpBase, { username: 'Zoë-Ann O\'Neil' })).status, 200, 'letters of any script, spaces, - . _ \'')
  // 8 requests so far, refused ones included; the limit is 30 a minute per address.
  const statuses: number[] = []
  for (let i = 0; i < 25; i++) statuses.push((await guest(httpBase, { username: `user${i}` })).status)
  t.same(statuses.slice(0, 22), Array(22).fill(200))
  t.same(statuses.slice(22), Array(3).fill(429), 'at most 30 a minute from one address')
})

t.test('GET /space/:spaceId serves the demo page, its bundle and stylesheet', async (t) => {
  const { httpBase } = await startApp(t)
  const page = await fetch(`${httpBase}/space/lobby`)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /text\/html/)
  t.equal(page.headers.get('cache-control'), 'no-cache')
  const html = await page.text()
  t.match(html, /<script type="module" src="\/demo\/demo\.js"><\/script>/)
  t.match(html, /<canvas id="map"/)
  const bundle = await fetch(`${httpBase}/demo/demo.js`)
  t.equal(bundle.status, 200)
  t.match(bundle.headers.get('content-type'), /javascript/)
  t.match(await bundle.text(), /plaza\.v1/, 'the client library is bundled in')
  t.equal((await fetch(`${httpBase}/demo/style.css`)).status, 200)
  const library = await fetch(`${httpBase}/demo/plaza-client.js`)
  t.equal(library.status, 200, 'the client library alone, as an ES module')
  t.match(await library.text(), /export\s*\{[^}]*PlazaClient/)
  t.equal((await fetch(`${httpBase}/space/${'x'.repeat(129)}`)).status, 400, 'not a space id')
  t.equal(await rawStatus(httpBase, '/demo/../package.json'), 403, 'no way out of the demo folder')
  t.equal(await rawStatus(httpBase, '/demo/%2e%2e/package.json'), 403)
  t.equal((await fetch(`${httpBase}/demo/`)).status, 403, 'no directory listing')
})
