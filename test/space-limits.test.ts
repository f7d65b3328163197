import t from 'tap'
import { bitmapsBuilt } from '../src/spaces/space.js'
import { SpacesFullError } from '../src/spaces/space-registry.js'
import { ADMIN_TOKEN, isolate, settle, startApp, type TestApp } from './helpers/app.js'

/**
 * Space definitions are bounded (MAX_OBSTACLES_PER_SPACE, MAX_SPACE_CELLS, MAX_SPACES), each refused
 * with a message naming its setting and nothing written; and each definition's bitmap is built once
 * per server.
 */

interface Reply { status: number, body: { message?: string } & Record<string, unknown> }

async function request (plaza: TestApp, method: string, id: string, body?: unknown): Promise<Reply> {
  const response = await fetch(`${plaza.httpBase}/admin/spaces/${id}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, body: text === '' ? {} : JSON.parse(text) as Reply['body'] }
}

const put = (plaza: TestApp, id: string, body: unknown): Promise<Reply> => request(plaza, 'PUT', id, body)
const storedIds = async (plaza: TestApp): Promise<string[]> => (await plaza.redis.hkeys(`${plaza.prefix}plaza:spaces`)).sort()
const dots = (count: number, width: number): Array<{ x: number, y: number }> =>
  Array.from({ length: count }, (_, i) => ({ x: i % width, y: Math.floor(i / width) }))

t.test('MAX_OBSTACLES_PER_SPACE: one obstacle more is refused with 400 naming the setting; as many are fine', async (t) => {
  const plaza = await startApp(t, { MAX_OBSTACLES_PER_SPACE: 3 })
  const refused = await put(plaza, 'room', { width: 10, height: 10, obstacles: dots(4, 10) })
  t.equal(refused.status, 400)
  t.equal(refused.body.message, '4 obstacles, more than the 3 a space may have (MAX_OBSTACLES_PER_SPACE)')
  t.strictSame(await storedIds(plaza), [], 'nothing was stored')
  t.equal((await put(plaza, 'room', { width: 10, height: 10, obstacles: dots(3, 10) })).status, 201, '3 obstacles are accepted')
  const redefined = await put(plaza, 'room', { width: 10, height: 10, obstacles: dots(4, 10) })
  t.equal(redefined.status, 400, 'a redefinition is held to the limit too')
  t.equal(((await request(plaza, 'GET', 'room')).body.obstacles as unknown[]).length, 3, 'and the space keeps its 3 obstacles')
})

t.test('the default MAX_OBSTACLES_PER_SPACE is 10,000', async (t) => {
  const plaza = await startApp(t)
  const refused = await put(plaza, 'room', { width: 200, height: 200, obstacles: dots(10_001, 200) })
  t.equal(refused.status, 400)
  t.equal(refused.body.message, '10001 obstacles, more than the 10000 a space may have (MAX_OBSTACLES_PER_SPACE)')
  t.equal((await put(plaza, 'room', { width: 200, height: 200, obstacles: dots(10_000, 200) })).status, 201, '10,000 are accepted')
})

t.test('MAX_SPACE_CELLS bounds width × height, whatever the shape; refused with 400 naming the setting', async (t) => {
  const plaza = await startApp(t, { MAX_SPACE_CELLS: 100 })
  const refused = await put(plaza, 'room', { width: 11, height: 10 })
  t.equal(refused.status, 400)
  t.equal(refused.body.message, 'a 11x10 space has 110 tiles, more than the 100 a space may have (MAX_SPACE_CELLS)')
  const tooLong = await put(plaza, 'room', { width: 101, height: 1 })
  t.equal(tooLong.status, 400, 'a side longer than the tiles allow')
  t.match(tooLong.body.message, /width/)
  t.strictSame(await storedIds(plaza), [], 'nothing was stored')
  t.equal((await put(plaza, 'square', { width: 10, height: 10 })).status, 201, '10x10 is accepted')
  t.equal((await put(plaza, 'corridor', { width: 100, height: 1 })).status, 201, 'so is 100x1')
})

t.test('MAX_SPACES: one space more is refused with 409 and nothing is written or told; a redefinition always goes', async (t) => {
  const shared = isolate(t)
  const a = await startApp(t, { MAX_SPACES: 2 }, shared)
  const b = await startApp(t, { MAX_SPACES: 2 }, shared)
  t.equal((await put(a, 'one', { width: 5, height: 5 })).status, 201)
  t.equal((await put(b, 'two', { width: 5, height: 5 })).status, 201, 'spaces are counted across the deployment')

  const refused = await put(a, 'three', { width: 5, height: 5 })
  t.equal(refused.status, 409)
  t.equal(refused.body.message, 'space three would be one more than the 2 spaces this deployment may hold (MAX_SPACES): delete one first')
  t.strictSame(await storedIds(a), ['one', 'two'], 'nothing was stored')
  t.equal((await request(a, 'GET', 'three')).status, 404, 'nor cached')
  t.equal((await put(b, 'three', { width: 5, height: 5 })).status, 409, 'the other server refuses it too')

  const redefined = await put(a, 'two', { width: 7, height: 3, obstacles: [{ x: 1, y: 1 }] })
  t.equal(redefined.status, 200, 'a redefinition at the limit is allowed')
  t.equal((await settle(() => b.app.spaces.get('two'), (s) => s?.width === 7))?.width, 7, 'and heard of by the other server')

  t.equal((await request(b, 'DELETE', 'one')).status, 204)
  t.equal((await put(a, 'three', { width: 5, height: 5 })).status, 201, 'once a space is deleted there is room again')
})

t.test('MAX_SPACES holds when two servers create the last space at once', async (t) => {
  const shared = isolate(t)
  const a = await startApp(t, { MAX_SPACES: 1 }, shared)
  const b = await startApp(t, { MAX_SPACES: 1 }, shared)
  for (let round = 0; round < 5; round++) {
    const [x, y] = await Promise.all([put(a, `x${round}`, { width: 3, height: 3 }), put(b, `y${round}`, { width: 3, height: 3 })])
    t.strictSame([x.status, y.status].sort(), [201, 409], `round ${round}: one is created, the other refused`)
    t.equal((await storedIds(a)).length, 1, `round ${round}: Redis holds one space`)
    const winner = x.status === 201 ? a : b
    t.equal((await request(winner, 'DELETE', x.status === 201 ? `x${round}` : `y${round}`)).status, 204)
  }
})

t.test('while Redis is away, MAX_SPACES counts the spaces this server holds', async (t) => {
  const plaza = await startApp(t, { MAX_SPACES: 1, REDIS_URL: 'redis://127.0.0.1:6390', REDIS_CONNECT_TIMEOUT_MS: 200 })
  await plaza.app.spaces.put({ id: 'first', width: 3, height: 3, obstacles: [] })
  await plaza.app.spaces.put({ id: 'first', width: 4, height: 4, obstacles: [] })
  t.equal(plaza.app.spaces.get('first')?.width, 4, 'a redefinition is kept')
  await t.rejects(plaza.app.spaces.put({ id: 'second', width: 3, height: 3, obstacles: [] }), new SpacesFullError('second', 1))
  t.equal(plaza.app.spaces.get('second'), undefined, 'the refused space is not kept')
})

t.test('a definition is built once on the server that handles the PUT and once on each that hears of it', async (t) => {
  const shared = isolate(t)
  const a = await startApp(t, {}, shared)
  const b = await startApp(t, {}, shared)
  const hall = { width: 300, height: 200, obstacles: [{ x: 10, y: 10, width: 50, height: 20 }, { x: 100, y: 0, height: 150 }] }
  /** PUTs `marker` on a, and waits until b has it: b has then read every definition announced before. */
  let markers = 0
  const heardOfAll = async (): Promise<void> => {
    const id = `marker-${++markers}`
    t.equal((await put(a, id, { width: 2, height: 2 })).status, 201)
    await settle(() => b.app.spaces.get(id), (s) => s !== undefined)
  }

  let before = bitmapsBuilt()
  t.equal((await put(a, 'hall', hall)).status, 201)
  await settle(() => b.app.spaces.get('hall'), (s) => s !== undefined)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(bitmapsBuilt() - before, 2, 'a new definition: two bitmaps, one per server')
  t.equal(b.app.spaces.get('hall')?.definition.obstacles.length, 2)

  before = bitmapsBuilt()
  for (const plaza of [a, b]) {
    t.equal((await request(plaza, 'GET', 'hall')).status, 200)
    t.equal((await (await fetch(`${plaza.httpBase}/admin/spaces`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json() as { spaces: unknown[] }).spaces.length, 1)
  }
  t.equal(bitmapsBuilt() - before, 0, 'reading it again (GET, the list) builds nothing')

  before = bitmapsBuilt()
  t.equal((await put(a, 'hall', hall)).status, 200)
  await heardOfAll()
  t.equal(bitmapsBuilt() - before, 2, 'the same definition PUT again builds nothing on either server (the 2 are the marker\'s)')

  before = bitmapsBuilt()
  t.equal((await put(b, 'hall', { ...hall, width: 301 })).status, 200)
  await heardOfAll()
  t.equal(a.app.spaces.get('hall')?.width, 301, 'a redefinition through the other server reaches the first')
  t.equal(bitmapsBuilt() - before, 4, 'a redefinition: again one per server (and 2 for the marker)')
})

t.test('a definition in Redis this server cannot use is checked once, not at every read', async (t) => {
  const plaza = await startApp(t)
  const covered = { id: 'covered', width: 4, height: 4, obstacles: [{ x: 0, y: 0, width: 4, height: 4 }] }
  await plaza.redis.hset(`${plaza.prefix}plaza:spaces`, 'covered', JSON.stringify(covered))
  const before = bitmapsBuilt()
  for (let i = 0; i < 3; i++) t.equal((await request(plaza, 'GET', 'covered')).status, 404, `read ${i + 1}: not served`)
  t.equal(bitmapsBuilt() - before, 1, 'its bitmap was built once')
})
