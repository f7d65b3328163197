import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { ADMIN_TOKEN, isolate, settle, startApp, type TestApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

interface Reply {
  status: number
  body: unknown
}

/** One admin request over real HTTP, with the admin token unless `authorization` says otherwise. */
async function admin (
  plaza: TestApp,
  method: string,
  path: string,
  body?: unknown,
  authorization: string | null = `Bearer ${ADMIN_TOKEN}`
): Promise<Reply> {
  const headers: Record<string, string> = {}
  if (authorization !== null) headers.authorization = authorization
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`${plaza.httpBase}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) as unknown }
}

/** The definition Redis holds for `id`, parsed, or null. */
async function storedDefinition (plaza: TestApp, id: string): Promise<unknown> {
  const value = await plaza.redis.hget(`${plaza.prefix}plaza:spaces`, id)
  return value === null ? null : JSON.parse(value) as unknown
}

/** A JSON file in the OS temp directory, removed when the test ends. */
function tempJsonFile (t: Test, content: unknown): string {
  const path = join(tmpdir(), `plaza-spaces-${randomUUID()}.json`)
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
  t.teardown(() => rmSync(path, { force: true }))
  return path
}

/** `promise`'s value, or `fallback` when it has not settled within `ms` (the timer does not outlive it). */
async function within<T, F> (promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<F>((resolve) => { timer = setTimeout(() => resolve(fallback), ms) })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const UNAUTHORIZED = { statusCode: 401, error: 'Unauthorized', message: 'Unauthorized' }

t.test('admin space routes refuse a missing, wrong or non-Bearer token with a 401 that reveals nothing', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'kept', width: 4, height: 4 })
  const refused: Array<[string, string | null]> = [
    ['no Authorization header', null],
    ['a wrong token', 'Bearer not-the-admin-token'],
    ['an empty Bearer token', 'Bearer '],
    ['the right token under Basic', `Basic ${ADMIN_TOKEN}`],
    ['the right token under another scheme', `Token ${ADMIN_TOKEN}`],
    ['the right token without a scheme', ADMIN_TOKEN],
    ['a prefix of the right token', `Bearer ${ADMIN_TOKEN.slice(0, -1)}`],
    ['the right token with a suffix', `Bearer ${ADMIN_TOKEN}x`]
  ]
  const routes: Array<[string, string, unknown?]> = [
    ['GET', '/admin/spaces'],
    ['GET', '/admin/spaces/kept'],
    ['GET', '/admin/spaces/nowhere'],
    ['PUT', '/admin/spaces/sneaky', { width: 3, height: 3 }],
    ['PUT', '/admin/spaces/kept', { width: 9, height: 9 }],
    ['DELETE', '/admin/spaces/kept']
  ]
  for (const [what, authorization] of refused) {
    for (const [method, path, body] of routes) {
      const reply = await admin(plaza, method, path, body, authorization)
      t.equal(reply.status, 401, `${method} ${path} with ${what} → 401`)
      t.strictSame(reply.body, UNAUTHORIZED, `${method} ${path} with ${what}: the body says nothing more`)
    }
  }
  t.equal(await storedDefinition(plaza, 'sneaky'), null, 'a refused PUT created nothing')
  t.strictSame(await storedDefinition(plaza, 'kept'), { id: 'kept', width: 4, height: 4, obstacles: [] },
    'a refused PUT or DELETE left the existing space alone')

  const allowed = await admin(plaza, 'GET', '/admin/spaces/kept')
  t.equal(allowed.status, 200, 'the right Bearer token is let in')
})

t.test('PUT creates (201) then replaces (200); GET, list and DELETE; the definition lives in Redis', async (t) => {
  const plaza = await startApp(t)

  const created = await admin(plaza, 'PUT', '/admin/spaces/plaza-1', {
    width: 20,
    height: 10,
    obstacles: [{ x: 1, y: 2 }, { x: 5, y: 5, width: 3, height: 2 }]
  })
  t.equal(created.status, 201, 'a new space is created')
  const normalized = {
    id: 'plaza-1',
    width: 20,
    height: 10,
    obstacles: [{ x: 1, y: 2, width: 1, height: 1 }, { x: 5, y: 5, width: 3, height: 2 }]
  }
  t.strictSame(created.body, normalized, 'the body is the normalized space: obstacles are 1x1 unless sized')
  t.strictSame(await storedDefinition(plaza, 'plaza-1'), normalized, `Redis has it at ${plaza.prefix}plaza:spaces, field plaza-1`)

  const got = await admin(plaza, 'GET', '/admin/spaces/plaza-1')
  t.equal(got.status, 200)
  t.strictSame(got.body, normalized, 'GET returns what PUT made')

  const replaced = await admin(plaza, 'PUT', '/admin/spaces/plaza-1', { width: 8, height: 6 })
  t.equal(replaced.status, 200, 'a redefinition answers 200')
  const redefined = { id: 'plaza-1', width: 8, height: 6, obstacles: [] }
  t.strictSame(replaced.body, redefined, 'obstacles default to none')
  t.strictSame((await admin(plaza, 'GET', '/admin/spaces/plaza-1')).body, redefined, 'GET sees the redefinition')
  t.strictSame(await storedDefinition(plaza, 'plaza-1'), redefined, 'so does Redis')

  t.equal((await admin(plaza, 'PUT', '/admin/spaces/a.b_c', { width: 3, height: 3 })).status, 201)
  t.equal((await admin(plaza, 'PUT', '/admin/spaces/0-first', { width: 2, height: 2 })).status, 201)
  const list = await admin(plaza, 'GET', '/admin/spaces')
  t.equal(list.status, 200)
  t.strictSame(list.body, {
    spaces: [
      { id: '0-first', width: 2, height: 2, obstacles: [] },
      { id: 'a.b_c', width: 3, height: 3, obstacles: [] },
      redefined
    ]
  }, 'GET /admin/spaces lists every space, sorted by id')

  const unknown = await admin(plaza, 'GET', '/admin/spaces/nowhere')
  t.equal(unknown.status, 404, 'an unknown space is 404')
  t.match(unknown.body, { statusCode: 404, error: 'Not Found' })

  const deleted = await admin(plaza, 'DELETE', '/admin/spaces/plaza-1')
  t.equal(deleted.status, 204, 'DELETE answers 204')
  t.equal(deleted.body, undefined, 'with no body')
  t.equal(await storedDefinition(plaza, 'plaza-1'), null, 'the definition is gone from Redis')
  t.equal((await admin(plaza, 'GET', '/admin/spaces/plaza-1')).status, 404, 'GET after DELETE is 404')
  t.equal((await admin(plaza, 'DELETE', '/admin/spaces/plaza-1')).status, 404, 'a second DELETE is 404')
  t.strictSame((await admin(plaza, 'GET', '/admin/spaces')).body, {
    spaces: [{ id: '0-first', width: 2, height: 2, obstacles: [] }, { id: 'a.b_c', width: 3, height: 3, obstacles: [] }]
  }, 'the list no longer has it')
  t.equal((await admin(plaza, 'PUT', '/admin/spaces/plaza-1', { width: 3, height: 3 })).status, 201,
    'defining a deleted id again is a creation')
})

t.test('invalid definitions and ids are refused with 400 and a message naming the problem', async (t) => {
  const plaza = await startApp(t)
  const cases: Array<[string, string, unknown, string[]]> = [
    ['width 0', 'room', { width: 0, height: 5 }, ['width']],
    ['a width beyond MAX_SPACE_CELLS', 'room', { width: 2_000_000, height: 1 }, ['width']],
    ['2000x1000 tiles, beyond MAX_SPACE_CELLS', 'room', { width: 2000, height: 1000 }, ['2000x1000', 'MAX_SPACE_CELLS']],
    ['a non-integer height', 'room', { width: 5, height: 2.5 }, ['height']],
    ['a missing height', 'room', { width: 5 }, ['height']],
    ['a body of null', 'room', null, ['body']],
    ['obstacles that are not a list', 'room', { width: 5, height: 5, obstacles: 'many' }, ['obstacles']],
    ['an obstacle reaching outside the space', 'room', { width: 5, height: 5, obstacles: [{ x: 4, y: 4, width: 2 }] }, ['obstacles[0]', 'outside']],
    ['an obstacle starting outside the space', 'room', { width: 5, height: 5, obstacles: [{ x: 1, y: 1 }, { x: 5, y: 0 }] }, ['obstacles[1]', 'outside']],
    ['an obstacle with a negative x', 'room', { width: 5, height: 5, obstacles: [{ x: -1, y: 0 }] }, ['obstacles', 'x']],
    ['obstacles covering every tile', 'room', { width: 3, height: 2, obstacles: [{ x: 0, y: 0, width: 2, height: 2 }, { x: 2, y: 0, height: 2 }] }, ['every tile']],
    ['an id with a space and a !', encodeURIComponent('bad id!'), { width: 5, height: 5 }, ['spaceId']],
    ['an id of 129 characters', 'x'.repeat(129), { width: 5, height: 5 }, ['spaceId']]
  ]
  for (const [what, id, body, needles] of cases) {
    const reply = await admin(plaza, 'PUT', `/admin/spaces/${id}`, body)
    t.equal(reply.status, 400, `${what} → 400`)
    t.match(reply.body, { statusCode: 400, error: 'Bad Request' }, `${what}: a JSON error body`)
    const message = (reply.body as { message?: unknown } | undefined)?.message
    t.ok(typeof message === 'string' && needles.every((needle) => message.includes(needle)),
      `${what}: the message names the problem (${needles.join(', ')}): ${String(message)}`)
  }
  t.strictSame(await plaza.redis.hkeys(`${plaza.prefix}plaza:spaces`), [], 'nothing refused was stored')

  const longest = 'L'.repeat(128)
  const accepted = await admin(plaza, 'PUT', `/admin/spaces/${longest}`, { width: 5, height: 5 })
  t.equal(accepted.status, 201, 'an id of 128 characters is accepted')
  t.strictSame(accepted.body, { id: longest, width: 5, height: 5, obstacles: [] })
  t.equal((await admin(plaza, 'GET', `/admin/spaces/${longest}`)).status, 200, 'and can be read back')
})

t.test('DELETE closes the connected users of the space with 4004 and removes them from Redis', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'doomed', width: 6, height: 6 })
  await plaza.defineSpace({ id: 'other', width: 6, height: 6 })
  const alice = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const bob = await TestClient.connect(`${plaza.wsBase}/`, 'metaverse')
  const carol = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => Promise.all([alice.close(), bob.close(), carol.close()]))
  await alice.join('doomed', plaza.token({ userId: 'alice' }))
  await bob.join('doomed', plaza.token({ userId: 'bob' }))
  await carol.join('other', plaza.token({ userId: 'carol' }))
  await alice.next('user-joined-space')
  const inRedis = await settle(async () => Object.keys(await plaza.usersInRedis('doomed')).sort(), (ids) => ids.length === 2)
  t.same(inRedis, ['alice', 'bob'], 'both users are in Redis before the delete')

  const reply = await admin(plaza, 'DELETE', '/admin/spaces/doomed')
  t.equal(reply.status, 204)

  const error = await alice.next('error')
  t.match(error.payload, { code: 'unknown-space', close: 4004 }, 'plaza.v1 is told why first')
  t.equal(typeof error.payload.message, 'string')
  t.equal((await alice.closed).code, 4004, 'then closed with 4004')
  t.same(await alice.unread(0), [], 'nothing after the error')
  t.equal((await bob.closed).code, 4004, 'metaverse is closed with 4004')
  t.same(await bob.unread(0), [], 'metaverse is sent no error frame')

  t.equal(await plaza.redis.exists(`${plaza.prefix}space:doomed:users`), 0, 'space:doomed:users is gone from Redis')
  // No late write puts a user of the deleted space back.
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(await plaza.redis.exists(`${plaza.prefix}space:doomed:users`), 0, 'and stays gone')
  t.same(Object.keys(await plaza.usersInRedis('other')), ['carol'], 'other spaces keep their users')
  t.same(await carol.quiet(), [], 'users of other spaces are not told')

  const late = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => late.close())
  late.send({ type: 'join', payload: { spaceId: 'doomed', token: plaza.token({ userId: 'dave' }) } })
  t.match((await late.next('error')).payload, { code: 'unknown-space', close: 4004 }, 'joining the deleted space is refused')
  t.equal((await late.closed).code, 4004)
})

t.test('a redefinition leaves users where they stand; their next move is judged by the new definition', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'garden', width: 7, height: 7 })
  const alice = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  const bob = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => Promise.all([alice.close(), bob.close()]))
  const joined = await alice.join('garden', plaza.token({ userId: 'alice' }))
  await bob.join('garden', plaza.token({ userId: 'bob' }))
  await alice.next('user-joined-space')
  // Spawn prefers a tile whose four neighbours are free, so (x+1, y) and (x-1, y) are in the space.
  const { x, y } = joined.spawn as { x: number, y: number }
  await settle(async () => await plaza.usersInRedis('garden'), (users) => users.alice !== undefined)

  const east = await admin(plaza, 'PUT', '/admin/spaces/garden', { width: 7, height: 7, obstacles: [{ x: x + 1, y }] })
  t.equal(east.status, 200)
  t.same(await alice.quiet(), [], 'the user is not moved or told')
  t.same(await bob.quiet(), [], 'nor are peers')
  t.match((await plaza.usersInRedis('garden')).alice, { x, y }, 'the user stands where they stood')

  alice.send({ type: 'move', payload: { x: x + 1, y } })
  t.strictSame((await alice.next('move-rejected')).payload, { x, y, reason: 'blocked' }, 'a step onto the new obstacle is blocked')
  t.same(await bob.quiet(), [], 'peers hear nothing of it')

  // Now the user's own tile becomes an obstacle: they stay on it, and may step off (only the target counts).
  const onTop = await admin(plaza, 'PUT', '/admin/spaces/garden', { width: 7, height: 7, obstacles: [{ x, y }] })
  t.equal(onTop.status, 200)
  alice.send({ type: 'move', payload: { x: x + 1, y } })
  t.strictSame((await bob.next('user-moved')).payload, { userId: 'alice', x: x + 1, y }, 'the old obstacle is gone; stepping off an obstacle tile works')
  alice.send({ type: 'move', payload: { x, y } })
  t.strictSame((await alice.next('move-rejected')).payload, { x: x + 1, y, reason: 'blocked' }, 'and stepping back onto it is blocked')
})

t.test('SPACES_FILE preloads its spaces, written over what Redis had', async (t) => {
  const shared = isolate(t)
  await shared.redis.hset(`${shared.prefix}plaza:spaces`, 'hall', JSON.stringify({ id: 'hall', width: 3, height: 3, obstacles: [] }))
  await shared.redis.hset(`${shared.prefix}plaza:spaces`, 'attic', JSON.stringify({ id: 'attic', width: 2, height: 2, obstacles: [] }))
  const file = tempJsonFile(t, [
    { id: 'hall', width: 12, height: 8, obstacles: [{ x: 2, y: 3, width: 2 }] },
    { id: 'yard', width: 5, height: 5 }
  ])
  const plaza = await startApp(t, { SPACES_FILE: file }, shared)

  const hall = { id: 'hall', width: 12, height: 8, obstacles: [{ x: 2, y: 3, width: 2, height: 1 }] }
  const yard = { id: 'yard', width: 5, height: 5, obstacles: [] }
  const list = await admin(plaza, 'GET', '/admin/spaces')
  t.strictSame(list.body, {
    spaces: [{ id: 'attic', width: 2, height: 2, obstacles: [] }, hall, yard]
  }, 'both spaces of the file are listed, the file winning over Redis; other spaces stay')
  t.strictSame(await storedDefinition(plaza, 'hall'), hall, 'the file was written over Redis')
  t.strictSame(await storedDefinition(plaza, 'yard'), yard)

  const alice = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.teardown(() => alice.close())
  t.strictSame((await alice.join('yard', plaza.token({ userId: 'alice' }))).space, yard, 'a preloaded space can be joined')
})

t.test('a SPACES_FILE that is not a valid list of spaces stops the start, naming the file', async (t) => {
  const { prefix } = isolate(t)
  const cases: Array<[string, unknown, string]> = [
    ['an invalid entry', [{ id: 'fine', width: 4, height: 4 }, { id: 'broken', width: 0, height: 4 }], 'width'],
    ['an obstacle outside its space', [{ id: 'broken', width: 4, height: 4, obstacles: [{ x: 4, y: 0 }] }], 'outside'],
    ['an invalid id', [{ id: 'no way!', width: 4, height: 4 }], 'id'],
    ['not an array', { id: 'solo', width: 4, height: 4 }, 'array'],
    ['not JSON', '[{"id": "x", ', 'JSON'],
    ['more obstacles than MAX_OBSTACLES_PER_SPACE (10,000)', [{ id: 'crowded', width: 200, height: 200, obstacles: Array.from({ length: 10_001 }, (_, i) => ({ x: i % 200, y: Math.floor(i / 200) })) }], 'MAX_OBSTACLES_PER_SPACE'],
    ['more spaces than MAX_SPACES (1,000)', Array.from({ length: 1001 }, (_, i) => ({ id: `s${i}`, width: 2, height: 2 })), 'MAX_SPACES']
  ]
  const files = cases.map(([, content]) => tempJsonFile(t, content))
  const missing = join(tmpdir(), `plaza-missing-${randomUUID()}.json`)

  // buildApp runs in a child process: a start that fails must not leave the test runner hanging.
  const outcome = await buildAppsInChild(prefix, [...files, missing])
  const results = outcome.results ?? []
  for (const [i, [what, , needle]] of cases.entries()) {
    const message = results[i]
    t.ok(typeof message === 'string', `${what}: buildApp rejects`)
    t.ok(message?.includes(files[i] as string) === true, `${what}: the message names the file: ${String(message)}`)
    t.ok(message?.includes(needle) === true, `${what}: and the problem (${needle})`)
  }
  t.ok(results[cases.length]?.includes(missing) === true, `a missing file stops the start, naming it: ${String(results[cases.length])}`)
  t.ok(outcome.exitedByItself, 'a failed start leaves nothing running (no Redis connection, no timer)')
})

/**
 * Calls buildApp once per SPACES_FILE in a fresh Node process and collects each rejection's message
 * (null for a start that succeeded). The child is given a few seconds to exit by itself once done,
 * and is killed otherwise.
 */
async function buildAppsInChild (prefix: string, files: string[]): Promise<{ results?: Array<string | null>, exitedByItself: boolean }> {
  const code = `
    import { buildApp } from ${JSON.stringify(new URL('../server/app.js', import.meta.url).href)}
    import { testEnv } from ${JSON.stringify(new URL('./helpers/app.js', import.meta.url).href)}
    const results = []
    for (const file of JSON.parse(process.env.PLAZA_TEST_FILES)) {
      try {
        const app = await buildApp(testEnv(process.env.PLAZA_TEST_PREFIX, { SPACES_FILE: file }))
        await app.close()
        results.push(null)
      } catch (err) {
        results.push(String(err?.message))
      }
    }
    process.stdout.write('RESULTS ' + JSON.stringify(results) + '\\n')
  `
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, PLAZA_TEST_FILES: JSON.stringify(files), PLAZA_TEST_PREFIX: prefix },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const line = async (): Promise<void> => {
    while (!stdout.includes('\n') && child.exitCode === null && child.signalCode === null) {
      await within(exited, 20, undefined)
    }
  }
  await within(line(), 20_000, undefined)
  const match = /^RESULTS (.*)$/m.exec(stdout)
  const exitedByItself = await within(exited.then(() => true), 5000, false)
  if (!exitedByItself) {
    child.kill('SIGKILL')
    await exited
  }
  return { ...(match?.[1] !== undefined ? { results: JSON.parse(match[1]) as Array<string | null> } : {}), exitedByItself }
}
