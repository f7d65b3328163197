import t from 'tap'
import { ADMIN_TOKEN, startApp } from './helpers/app.js'

/** The admin API described as OpenAPI at /docs: off by default outside development mode, and behind the admin token. */

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }

t.test('outside development mode /docs does not exist unless API_DOCS is on', async (t) => {
  const plaza = await startApp(t)
  t.equal((await fetch(`${plaza.httpBase}/docs/json`, { headers: admin })).status, 404)
  t.equal((await fetch(`${plaza.httpBase}/docs`, { headers: admin })).status, 404)
})

t.test('with API_DOCS the OpenAPI document lists the admin routes with their answers, to the admin token only', async (t) => {
  const plaza = await startApp(t, { API_DOCS: 'true' })
  t.equal((await fetch(`${plaza.httpBase}/docs/json`)).status, 401, 'no token, no document')
  const res = await fetch(`${plaza.httpBase}/docs/json`, { headers: admin })
  t.equal(res.status, 200)
  const doc = await res.json() as { openapi: string, paths: Record<string, Record<string, { responses: Record<string, unknown>, security?: unknown[] }>>, components: { securitySchemes: Record<string, { scheme: string }> } }
  t.match(doc.openapi, /^3\./)
  t.equal(doc.components.securitySchemes.admin?.scheme, 'bearer')
  const space = doc.paths['/admin/spaces/{spaceId}']
  t.same(Object.keys(space?.put?.responses ?? {}).sort(), ['200', '201', '400', '409'])
  t.same(space?.put?.security, [{ admin: [] }])
  t.ok(doc.paths['/admin/health']?.get?.responses['503'], 'health answers 503 when Redis does not')
  t.ok(doc.paths['/admin/stats']?.get, 'stats')
  const ui = await fetch(`${plaza.httpBase}/docs`, { headers: admin, redirect: 'manual' })
  t.ok(ui.status === 200 || ui.status === 302, `the UI answers (${ui.status})`)
})

t.test('the replies keep their shape through their schemas: a deletion answers 204 with no body, health lists its faults', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'gone' })
  const deleted = await fetch(`${plaza.httpBase}/admin/spaces/gone`, { method: 'DELETE', headers: admin })
  t.equal(deleted.status, 204)
  t.equal(await deleted.text(), '')
  const health = await (await fetch(`${plaza.httpBase}/admin/health`, { headers: admin })).json() as Record<string, unknown>
  t.same(Object.keys(health).sort(), ['faults', 'latency', 'redis', 'serverId', 'spaces', 'status', 'uptime', 'users'])
})
