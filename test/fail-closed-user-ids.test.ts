import { createHmac } from 'node:crypto'
import t from 'tap'
import { JWT_SECRET, startApp } from './helpers/app.js'
import { TestClient } from './helpers/client.js'

/**
 * An HS256 token signed with the test secret whose payload is `payloadJson` as written: the digits
 * of a number beyond 2^53 reach the server as the client's backend wrote them, not as JavaScript
 * would round them before signing.
 */
function tokenWithPayload (payloadJson: string): string {
  const part = (text: string) => Buffer.from(text).toString('base64url')
  const unsigned = `${part('{"alg":"HS256","typ":"JWT"}')}.${part(payloadJson)}`
  return `${unsigned}.${createHmac('sha256', JWT_SECRET).update(unsigned).digest('base64url')}`
}

t.test('a numeric userId that is not a safe integer is refused with 4001, asking for string ids (PROTOCOL §3.1)', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'plaza' })
  for (const payload of ['{"userId":9007199254740993}', '{"userId":9007199254740992}', '{"userId":-9007199254740993}',
    '{"userId":1e21}', '{"userId":1.5}', '{"sub":9007199254740993}']) {
    const client = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
    t.teardown(() => client.close())
    client.send({ type: 'join', payload: { spaceId: 'plaza', token: tokenWithPayload(payload) } })
    const frame = await client.next()
    t.match(frame, { type: 'error', payload: { code: 'bad-token', close: 4001, message: /string/ } }, `${payload}: an error that says to send string ids`)
    // Only an error is followed by a close: a join that was let through stays open.
    if (frame.type === 'error') t.equal((await client.closed).code, 4001, `${payload}: closed with 4001`)
  }
})

t.test('9007199254740993 and 9007199254740992 never become one avatar', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'plaza' })
  for (const id of ['9007199254740993', '9007199254740992']) {
    const client = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
    t.teardown(() => client.close())
    client.send({ type: 'join', payload: { spaceId: 'plaza', token: tokenWithPayload(`{"userId":${id}}`) } })
    t.equal((await client.next()).type, 'error', `${id} is refused, not seated nor taking another over`)
  }
  t.strictSame(await plaza.usersInRedis('plaza'), {}, 'nobody was seated')
})

t.test('numeric userIds up to ±(2^53 − 1) are accepted as their decimal strings', async (t) => {
  const plaza = await startApp(t)
  await plaza.defineSpace({ id: 'plaza' })
  for (const id of ['9007199254740991', '-9007199254740991', '42']) {
    const client = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
    t.equal((await client.join('plaza', tokenWithPayload(`{"userId":${id}}`))).userId, id, `${id} joins as "${id}"`)
    await client.close()
  }
  const big = await TestClient.connect(`${plaza.wsBase}/ws`, 'plaza.v1')
  t.equal((await big.join('plaza', tokenWithPayload('{"userId":"9007199254740993"}'))).userId, '9007199254740993', 'a string id keeps every digit')
  await big.close()
})
