import t from 'tap'
import { parseServerMessage } from '../client/messages.js'

const frame = (type: string, payload: unknown): string => JSON.stringify({ type, payload })

const joined = {
  userId: 'alice',
  spawn: { x: 1, y: 2 },
  users: [{ userId: 'bob', username: 'Bob', x: 3, y: 4, connected: false, lastActive: 5, idle: false }],
  resumed: true,
  space: { id: 'lobby', width: 10, height: 10, obstacles: [{ x: 0, y: 0, width: 1, height: 1 }, { x: 5, y: 5 }] },
  chat: [{ id: '1-0', userId: 'bob', username: 'Bob', text: 'hi', sentAt: 1 }]
}

const chat = { id: '1765158001000-0', userId: 'alice', username: 'Alice', text: '<b>lunch</b> at 12?', sentAt: 1765158001000 }

t.test('each plaza.v1 message is parsed to its type, payload as sent (fields beyond the protocol kept)', async (t) => {
  const messages = [
    { type: 'space-joined', payload: joined },
    { type: 'user-joined-space', payload: { userId: 'bob', username: 'Bob', x: 1, y: 1 } },
    { type: 'user-moved', payload: { userId: 'bob', x: 2, y: 1 } },
    { type: 'move-rejected', payload: { x: 1, y: 2, reason: 'not-adjacent' } },
    { type: 'user-disconnected', payload: { userId: 'bob' } },
    { type: 'user-left', payload: { userId: 'bob' } },
    { type: 'heartbeat', payload: { timestamp: 1.5, serverTime: 2 } },
    { type: 'error', payload: { code: 'rate-limited', message: 'slow down', close: 4029 } },
    { type: 'error', payload: { code: 'invalid-message', message: 'no' } },
    { type: 'chat-message', payload: chat },
    { type: 'chat-history', payload: { messages: [chat, { ...chat, id: '2-0' }], more: true } },
    { type: 'chat-history', payload: { messages: [], more: false } },
    { type: 'user-idle', payload: { userId: 'bob', idle: true, lastActive: 1765158000000 } },
    { type: 'user-idle', payload: { userId: 'bob', idle: false, lastActive: 1765158093000 } },
    { type: 'space-joined', payload: { ...joined, chat: [], users: [] } }
  ]
  for (const message of messages) t.same(parseServerMessage(frame(message.type, message.payload)), message, message.type)
})

t.test('the type narrows the payload: no cast is needed to read it', async (t) => {
  const message = parseServerMessage(frame('user-moved', { userId: 'bob', x: 2, y: 1 }))
  if (message?.type !== 'user-moved') throw new Error('not parsed')
  const { userId, x, y } = message.payload
  t.same([userId, x + 1, y], ['bob', 3, 1])
})

t.test('frames this client cannot use are undefined rather than half-read', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['binary data', Buffer.from(frame('user-left', { userId: 'bob' }))],
    ['not JSON', '{"type":'],
    ['an array', '[1, 2]'],
    ['an unknown type', frame('chat-notice', { id: '1', text: 'hi' })],
    ['a metaverse name', frame('movement', { userId: 'bob', x: 1, y: 1 })],
    ['no payload', JSON.stringify({ type: 'user-left' })],
    ['a payload that is an array', frame('user-left', [])],
    ['a numeric userId', frame('user-left', { userId: 7 })],
    ['a fractional coordinate', frame('user-moved', { userId: 'bob', x: 1.5, y: 1 })],
    ['a coordinate as a string', frame('user-moved', { userId: 'bob', x: '1', y: 1 })],
    ['a joiner without a name', frame('user-joined-space', { userId: 'bob', x: 1, y: 1 })],
    ['an unknown reject reason', frame('move-rejected', { x: 1, y: 1, reason: 'tired' })],
    ['a heartbeat without serverTime', frame('heartbeat', { timestamp: 1 })],
    ['an unknown error code', frame('error', { code: 'oops', message: 'x' })],
    ['an error with a close code as text', frame('error', { code: 'replaced', message: 'x', close: '4009' })],
    ['space-joined without users', frame('space-joined', { ...joined, users: undefined })],
    ['space-joined with a user lacking `connected`', frame('space-joined', { ...joined, users: [{ userId: 'bob', username: 'Bob', x: 1, y: 1 }] })],
    ['space-joined without resumed', frame('space-joined', { ...joined, resumed: undefined })],
    ['space-joined with a bad spawn', frame('space-joined', { ...joined, spawn: { x: 1 } })],
    ['space-joined with a bad obstacle', frame('space-joined', { ...joined, space: { ...joined.space, obstacles: [{ x: 1, y: 1, width: 'wide' }] } })],
    ['space-joined without the space', frame('space-joined', { ...joined, space: undefined })],
    ['space-joined without the chat', frame('space-joined', { ...joined, chat: undefined })],
    ['space-joined with a malformed chat message', frame('space-joined', { ...joined, chat: [{ ...chat, sentAt: 'today' }] })],
    ['space-joined with a user lacking `idle`', frame('space-joined', { ...joined, users: [{ ...joined.users[0], idle: undefined }] })],
    ['space-joined with a user whose lastActive is text', frame('space-joined', { ...joined, users: [{ ...joined.users[0], lastActive: '5' }] })],
    ['a chat-message without text', frame('chat-message', { ...chat, text: undefined })],
    ['a chat-message whose text is not a string', frame('chat-message', { ...chat, text: 42 })],
    ['a chat-message without an id', frame('chat-message', { ...chat, id: undefined })],
    ['a chat-message with a numeric id', frame('chat-message', { ...chat, id: 7 })],
    ['a chat-message without sentAt', frame('chat-message', { ...chat, sentAt: undefined })],
    ['a chat-message without a username', frame('chat-message', { ...chat, username: undefined })],
    ['a chat-history without more', frame('chat-history', { messages: [chat] })],
    ['a chat-history whose messages are not a list', frame('chat-history', { messages: chat, more: false })],
    ['a chat-history with a malformed message', frame('chat-history', { messages: [{ ...chat, userId: 1 }], more: false })],
    ['a user-idle without idle', frame('user-idle', { userId: 'bob', lastActive: 1 })],
    ['a user-idle whose idle is text', frame('user-idle', { userId: 'bob', idle: 'yes', lastActive: 1 })],
    ['a user-idle without lastActive', frame('user-idle', { userId: 'bob', idle: true })],
    ['a user-idle without a userId', frame('user-idle', { idle: true, lastActive: 1 })]
  ]
  for (const [name, data] of cases) t.equal(parseServerMessage(data), undefined, name)
})
