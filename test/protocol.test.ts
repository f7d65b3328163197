import t from 'tap'
import { Broadcast, codecs } from '../src/dialects/index.js'
import { encodeMetaverse } from '../src/dialects/metaverse.js'
import { encodePlazaV1 } from '../src/dialects/plaza-v1.js'
import type { ServerEvent, UserView } from '../src/events.js'
import { cleanChatText, CloseCode, ErrorCode, offeredProtocols, parseClientMessage, pickDialect, type Dialect } from '../src/protocol.js'

const frame = (value: unknown): string => JSON.stringify(value)

/** A value for a test name: JSON, with line and paragraph separators escaped (TAP is line-based). */
const label = (value: unknown): string =>
  (JSON.stringify(value) ?? String(value)).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`)

/** Parses a wire frame (undefined stays undefined: nothing is sent). */
function decode (wire: string | undefined): { type: string, payload: Record<string, unknown> } | undefined {
  if (wire === undefined) return undefined
  return JSON.parse(wire) as { type: string, payload: Record<string, unknown> }
}

const users: UserView[] = [
  { userId: 'bob', username: 'Bob', x: 1, y: 2, connected: true, lastActive: 1000, idle: false },
  { userId: 'ghost', username: 'Casper', x: 3, y: 4, connected: false, lastActive: 500, idle: true },
  { userId: '42', username: '42', x: 0, y: 0, connected: true, lastActive: 900, idle: false }
]
const chatMessage = { id: '1733600000000-0', userId: 'bob', username: 'Bob', text: '<b>hi</b>\n', sentAt: 1733600000000 }
const spaceDefinition = { id: 'hall', width: 12, height: 8, obstacles: [{ x: 2, y: 3, width: 2, height: 1 }] }

/** One of every server event, named. */
const events: Array<[string, ServerEvent]> = [
  ['joined', { kind: 'joined', userId: 'alice', username: 'Alice', x: 3, y: 4 }],
  ['moved', { kind: 'moved', userId: 'alice', x: 5, y: 6 }],
  ['dropped', { kind: 'dropped', userId: 'alice' }],
  ['left (was connected)', { kind: 'left', userId: 'alice', wasConnected: true }],
  ['left (a ghost)', { kind: 'left', userId: 'alice', wasConnected: false }],
  ['welcome', { kind: 'welcome', userId: 'alice', spawn: { x: 7, y: 1 }, users, resumed: true, space: spaceDefinition, chat: [chatMessage] }],
  ['idle', { kind: 'idle', userId: 'alice', idle: true, lastActive: 1000 }],
  ['chat', { kind: 'chat', message: chatMessage }],
  ['chat-history', { kind: 'chat-history', messages: [chatMessage], more: true }],
  ['move-rejected', { kind: 'move-rejected', x: 1, y: 1, reason: 'blocked' }],
  ['heartbeat', { kind: 'heartbeat', timestamp: 1234, serverTime: 5678 }],
  ['error', { kind: 'error', code: 'invalid-message', message: 'frame is not valid JSON' }],
  ['error with close', { kind: 'error', code: 'bad-token', message: 'bad or expired token', close: 4001 }]
]

t.test('parseClientMessage reads each client message of PROTOCOL §2', async (t) => {
  t.strictSame(parseClientMessage(frame({ type: 'join', payload: { spaceId: 'hall', token: 'jwt' } })),
    { ok: true, message: { type: 'join', spaceId: 'hall', token: 'jwt' } }, 'join')
  t.strictSame(parseClientMessage(frame({ type: 'join', payload: { spaceId: 'hall', token: 'jwt', userId: 'mallory', extra: 1 }, also: 2 })),
    { ok: true, message: { type: 'join', spaceId: 'hall', token: 'jwt' } }, 'join: fields the protocol does not name are ignored')
  const noToken = parseClientMessage(frame({ type: 'join', payload: { spaceId: 'hall' } }))
  t.ok(noToken.ok && noToken.message.type === 'join' && noToken.message.token === undefined,
    'join without a token parses (the token check refuses it later, with 4001)')

  t.strictSame(parseClientMessage(frame({ type: 'move', payload: { x: 3, y: 4 } })), { ok: true, message: { type: 'move', x: 3, y: 4 } }, 'move')
  t.strictSame(parseClientMessage(frame({ type: 'move', payload: { x: 3, y: 4, userId: 'mallory' } })),
    { ok: true, message: { type: 'move', x: 3, y: 4 } }, 'move: a userId in the payload is ignored')
  t.strictSame(parseClientMessage(frame({ type: 'move', payload: { x: -1, y: 0 } })),
    { ok: true, message: { type: 'move', x: -1, y: 0 } }, 'move: a negative integer parses (and is judged out-of-bounds later)')
  t.strictSame(parseClientMessage('{"type":"move","payload":{"x":2.0,"y":0}}'),
    { ok: true, message: { type: 'move', x: 2, y: 0 } }, 'move: 2.0 is the integer 2 in JSON')

  t.strictSame(parseClientMessage(frame({ type: 'leave', payload: {} })), { ok: true, message: { type: 'leave' } }, 'leave')
  t.strictSame(parseClientMessage(frame({ type: 'leave' })), { ok: true, message: { type: 'leave' } }, 'leave without a payload')
  t.strictSame(parseClientMessage(frame({ type: 'leave', payload: null })), { ok: true, message: { type: 'leave' } }, 'leave with a null payload')

  t.strictSame(parseClientMessage(frame({ type: 'heartbeat', payload: { timestamp: 1712345678901 } })),
    { ok: true, message: { type: 'heartbeat', timestamp: 1712345678901 } }, 'heartbeat keeps its timestamp')
  const noTimestamp = parseClientMessage(frame({ type: 'heartbeat', payload: {} }))
  t.ok(noTimestamp.ok && noTimestamp.message.type === 'heartbeat' && typeof noTimestamp.message.timestamp === 'number',
    'heartbeat without a timestamp is still a heartbeat, with a numeric timestamp')
  const badTimestamp = parseClientMessage(frame({ type: 'heartbeat', payload: { timestamp: 'soon' } }))
  t.ok(badTimestamp.ok && badTimestamp.message.type === 'heartbeat' && typeof badTimestamp.message.timestamp === 'number',
    'a non-numeric timestamp never reaches the answer as a string')

  t.strictSame(parseClientMessage(frame({ type: 'heartbeat-response', payload: { timestamp: 1 } })),
    { ok: true, message: { type: 'heartbeat-response' } }, 'heartbeat-response')
  t.strictSame(parseClientMessage(frame({ type: 'heartbeat-response' })),
    { ok: true, message: { type: 'heartbeat-response' } }, 'heartbeat-response without a payload')
})

t.test('parseClientMessage reads chat, chat-history and active (PROTOCOL §9, §10)', async (t) => {
  t.strictSame(parseClientMessage(frame({ type: 'chat', payload: { text: ' hi ', userId: 'mallory' } })),
    { ok: true, message: { type: 'chat', text: ' hi ' } }, 'chat keeps its text for the cleaning; other fields are ignored')
  for (const text of [42, null, ['hi'], { t: 'hi' }, undefined]) {
    const parsed = parseClientMessage(frame({ type: 'chat', payload: { text } }))
    t.ok(!parsed.ok && parsed.code === 'invalid-message', `a text that is not a string (${JSON.stringify(text)}) is invalid-message`)
  }
  t.strictSame(parseClientMessage(frame({ type: 'chat-history', payload: {} })),
    { ok: true, message: { type: 'chat-history', before: undefined, limit: 50 } }, 'chat-history: the newest page of 50 by default')
  t.strictSame(parseClientMessage(frame({ type: 'chat-history' })),
    { ok: true, message: { type: 'chat-history', before: undefined, limit: 50 } }, 'chat-history without a payload')
  t.strictSame(parseClientMessage(frame({ type: 'chat-history', payload: { before: '1-0', limit: 10 } })),
    { ok: true, message: { type: 'chat-history', before: '1-0', limit: 10 } }, 'chat-history before an id')
  for (const [limit, clamped] of [[0, 1], [-5, 1], [101, 100], [1e9, 100], [7.9, 7]] as const) {
    t.strictSame(parseClientMessage(frame({ type: 'chat-history', payload: { limit } })),
      { ok: true, message: { type: 'chat-history', before: undefined, limit: clamped } }, `limit ${limit} is clamped to ${clamped}`)
  }
  for (const payload of [{ before: 12 }, { limit: '10' }]) {
    const parsed = parseClientMessage(frame({ type: 'chat-history', payload }))
    t.ok(!parsed.ok && parsed.code === 'invalid-message', `chat-history ${JSON.stringify(payload)} is invalid-message`)
  }
  t.strictSame(parseClientMessage(frame({ type: 'active', payload: {} })), { ok: true, message: { type: 'active' } }, 'active')
  t.strictSame(parseClientMessage(frame({ type: 'active' })), { ok: true, message: { type: 'active' } }, 'active without a payload')
})

t.test('cleanChatText removes control characters but \\n and \\t, trims, and counts code points', async (t) => {
  t.equal(cleanChatText('  hello  ', 500), 'hello', 'trimmed')
  t.equal(cleanChatText('a\u0000b\u0007c\u001bd\u007fe\u0085f', 500), 'abcdef', 'C0, DEL and C1 controls removed')
  t.equal(cleanChatText('line 1\nline\t2', 500), 'line 1\nline\t2', '\\n and \\t kept')
  t.equal(cleanChatText('\r\n x \n', 500), 'x', 'trimmed after the cleaning')
  t.equal(cleanChatText('<b>bold</b> &amp; <script>', 500), '<b>bold</b> &amp; <script>', 'markup kept verbatim')
  t.equal(cleanChatText('', 500), undefined, 'empty')
  t.equal(cleanChatText(' \u0000\t\n ', 500), undefined, 'nothing left once cleaned')
  t.equal(cleanChatText('x'.repeat(500), 500), 'x'.repeat(500), '500 code points')
  t.equal(cleanChatText('x'.repeat(501), 500), undefined, '501 code points')
  t.equal(cleanChatText('😀'.repeat(500), 500), '😀'.repeat(500), '500 emoji are 500 code points (1,000 UTF-16 units)')
  t.equal(cleanChatText('😀'.repeat(501), 500), undefined, '501 emoji')
  t.equal(cleanChatText('a\ud800b', 500), undefined, 'a lone surrogate is not text')
  t.equal(cleanChatText('\udc00', 500), undefined, 'nor a lone low one')
})

t.test('heartbeat-response is accepted whatever its payload (PROTOCOL §2: "any")', async (t) => {
  for (const payload of ['pong', 42, true, [1, 2], null, { anything: ['goes'] }]) {
    t.strictSame(parseClientMessage(frame({ type: 'heartbeat-response', payload })),
      { ok: true, message: { type: 'heartbeat-response' } }, `payload ${JSON.stringify(payload)}`)
  }
})

t.test('parseClientMessage says what is wrong with a malformed frame', async (t) => {
  const invalid: Array<[string, string]> = [
    ['not JSON', '{"type": "move"'],
    ['empty', ''],
    ['a JSON string', '"join"'],
    ['a JSON number', '42'],
    ['JSON null', 'null'],
    ['a JSON array', '[{"type":"join"}]'],
    ['no type', frame({ payload: { x: 1, y: 1 } })],
    ['a numeric type', frame({ type: 1, payload: {} })],
    ['a null type', frame({ type: null, payload: {} })],
    ['a string payload', frame({ type: 'move', payload: '1,1' })],
    ['an array payload', frame({ type: 'join', payload: ['hall', 'jwt'] })],
    ['a numeric payload', frame({ type: 'leave', payload: 1 })],
    ['join without spaceId', frame({ type: 'join', payload: { token: 'jwt' } })],
    ['join with a numeric spaceId', frame({ type: 'join', payload: { spaceId: 7, token: 'jwt' } })],
    ['join without a payload', frame({ type: 'join' })],
    ['move without coordinates', frame({ type: 'move', payload: {} })],
    ['move without y', frame({ type: 'move', payload: { x: 1 } })],
    ['move without x', frame({ type: 'move', payload: { y: 1 } })],
    ['move with a fractional x', frame({ type: 'move', payload: { x: 1.5, y: 1 } })],
    ['move with a fractional y', frame({ type: 'move', payload: { x: 1, y: 0.1 } })],
    ['move with string coordinates', frame({ type: 'move', payload: { x: '1', y: '1' } })],
    ['move with null coordinates', frame({ type: 'move', payload: { x: null, y: 1 } })],
    ['move with a boolean coordinate', frame({ type: 'move', payload: { x: true, y: 1 } })],
    ['move with an array coordinate', frame({ type: 'move', payload: { x: [1], y: 1 } })],
    ['move beyond safe integers', '{"type":"move","payload":{"x":1e300,"y":0}}'],
    ['move at 2^53', frame({ type: 'move', payload: { x: 2 ** 53, y: 0 } })]
  ]
  for (const [what, text] of invalid) {
    const result = parseClientMessage(text)
    t.equal(result.ok, false, `${what} is refused`)
    if (!result.ok) {
      t.equal(result.code, ErrorCode.InvalidMessage, `${what}: invalid-message`)
      t.ok(typeof result.message === 'string' && result.message.length > 0, `${what}: with a message: ${result.message}`)
    }
  }
  const named = parseClientMessage(frame({ type: 'join', payload: { token: 'jwt' } }))
  t.ok(!named.ok && named.message.includes('spaceId'), 'the message names the missing field')
  const coords = parseClientMessage(frame({ type: 'move', payload: { x: 1.5, y: 1 } }))
  t.ok(!coords.ok && /\bx\b/.test(coords.message) && /\by\b/.test(coords.message), 'a bad move names x and y')

  for (const type of ['teleport', 'JOIN', 'Move', 'user-moved', 'space-joined', '']) {
    const result = parseClientMessage(frame({ type, payload: {} }))
    t.ok(!result.ok && result.code === ErrorCode.UnknownType, `type ${JSON.stringify(type)} is unknown-type`)
    t.ok(!result.ok && result.message.includes(JSON.stringify(type)), `and the message names it: ${result.ok ? '' : result.message}`)
  }
  const long = parseClientMessage(frame({ type: 'x'.repeat(5000), payload: {} }))
  t.ok(!long.ok && long.message.length < 200, 'an absurdly long type is not echoed in full')
})

t.test('the wire names of PROTOCOL §3: close codes and error codes', async (t) => {
  t.strictSame({ ...CloseCode }, {
    GoingAway: 1001, ProtocolViolation: 1008, TooLarge: 1009, BadToken: 4001, UnknownSpace: 4004, Replaced: 4009, TooManyMessages: 4029
  })
  t.strictSame(Object.values(ErrorCode).sort(), [
    'already-joined', 'bad-token', 'invalid-message', 'not-joined', 'rate-limited', 'replaced', 'too-large', 'unknown-space', 'unknown-type'
  ])
})

t.test('offeredProtocols reads Sec-WebSocket-Protocol in order', async (t) => {
  t.strictSame(offeredProtocols(undefined), [], 'no header')
  t.strictSame(offeredProtocols(''), [], 'an empty header')
  t.strictSame(offeredProtocols(' , ,'), [], 'only separators')
  t.strictSame(offeredProtocols('plaza.v1'), ['plaza.v1'])
  t.strictSame(offeredProtocols('chat, metaverse ,plaza.v1'), ['chat', 'metaverse', 'plaza.v1'], 'trimmed, in order')
  t.strictSame(offeredProtocols(['chat, superchat', 'metaverse']), ['chat', 'superchat', 'metaverse'], 'repeated headers, in order')
})

t.test('pickDialect takes the first known subprotocol offered', async (t) => {
  t.equal(pickDialect(['plaza.v1']), 'plaza.v1')
  t.equal(pickDialect(['metaverse']), 'metaverse')
  t.equal(pickDialect(['plaza.v1', 'metaverse']), 'plaza.v1', 'the first wins')
  t.equal(pickDialect(['metaverse', 'plaza.v1']), 'metaverse', 'the first wins, whichever it is')
  t.equal(pickDialect(['chat', 'metaverse', 'plaza.v1']), 'metaverse', 'unknown ones are skipped')
  t.equal(pickDialect(['chat', 'plaza.v2']), undefined, 'none known')
  t.equal(pickDialect([]), undefined, 'none offered')
  t.equal(pickDialect(offeredProtocols('x, plaza.v1, metaverse')), 'plaza.v1', 'with offeredProtocols')
  t.equal(pickDialect(new Set(['metaverse'])), 'metaverse', 'any iterable')
})

t.test('plaza.v1 encodes every event exactly as PROTOCOL §3 says', async (t) => {
  const expected: Record<string, unknown> = {
    joined: { type: 'user-joined-space', payload: { userId: 'alice', username: 'Alice', x: 3, y: 4 } },
    moved: { type: 'user-moved', payload: { userId: 'alice', x: 5, y: 6 } },
    dropped: { type: 'user-disconnected', payload: { userId: 'alice' } },
    'left (was connected)': { type: 'user-left', payload: { userId: 'alice' } },
    'left (a ghost)': { type: 'user-left', payload: { userId: 'alice' } },
    welcome: {
      type: 'space-joined',
      payload: {
        userId: 'alice',
        spawn: { x: 7, y: 1 },
        users: [
          { userId: 'bob', username: 'Bob', x: 1, y: 2, connected: true, lastActive: 1000, idle: false },
          { userId: 'ghost', username: 'Casper', x: 3, y: 4, connected: false, lastActive: 500, idle: true },
          { userId: '42', username: '42', x: 0, y: 0, connected: true, lastActive: 900, idle: false }
        ],
        resumed: true,
        space: { id: 'hall', width: 12, height: 8, obstacles: [{ x: 2, y: 3, width: 2, height: 1 }] },
        chat: [chatMessage]
      }
    },
    idle: { type: 'user-idle', payload: { userId: 'alice', idle: true, lastActive: 1000 } },
    chat: { type: 'chat-message', payload: chatMessage },
    'chat-history': { type: 'chat-history', payload: { messages: [chatMessage], more: true } },
    'move-rejected': { type: 'move-rejected', payload: { x: 1, y: 1, reason: 'blocked' } },
    heartbeat: { type: 'heartbeat', payload: { timestamp: 1234, serverTime: 5678 } },
    error: { type: 'error', payload: { code: 'invalid-message', message: 'frame is not valid JSON' } },
    'error with close': { type: 'error', payload: { code: 'bad-token', message: 'bad or expired token', close: 4001 } }
  }
  for (const [name, event] of events) {
    const wire = encodePlazaV1(event)
    t.strictSame(decode(wire), expected[name], `${name} → ${wire}`)
    t.equal(codecs['plaza.v1'](event), wire, `${name}: the codec table uses the same encoder`)
  }
  t.notOk('close' in (decode(encodePlazaV1({ kind: 'error', code: 'unknown-type', message: 'x' }))?.payload ?? {}),
    'error has no close key unless a close follows')
  t.strictSame(decode(encodePlazaV1({ kind: 'welcome', userId: 'a', spawn: { x: 0, y: 0 }, users: [], resumed: false, space: { id: 's', width: 1, height: 1, obstacles: [] }, chat: [] })),
    { type: 'space-joined', payload: { userId: 'a', spawn: { x: 0, y: 0 }, users: [], resumed: false, space: { id: 's', width: 1, height: 1, obstacles: [] }, chat: [] } },
    'a first joiner gets an empty users list and resumed: false')
  for (const reason of ['not-adjacent', 'out-of-bounds', 'blocked', 'rate-limited'] as const) {
    t.equal(decode(encodePlazaV1({ kind: 'move-rejected', x: 0, y: 0, reason }))?.payload.reason, reason, `reason ${reason}`)
  }
})

t.test('the hand-written movement frames stay valid JSON whatever the userId', async (t) => {
  for (const userId of ['plain', 'quote"d', 'back\\slash', 'new\nline', '</script>', '\u2028\u2029', 'ünï©ødé 🎉', '{"type":"x"}']) {
    t.strictSame(decode(encodePlazaV1({ kind: 'moved', userId, x: 1, y: 2 })), { type: 'user-moved', payload: { userId, x: 1, y: 2 } },
      `plaza.v1 user-moved for ${label(userId)}`)
    t.strictSame(decode(encodeMetaverse({ kind: 'moved', userId, x: 1, y: 2 })), { type: 'movement', payload: { userId, x: 1, y: 2 } },
      `metaverse movement for ${label(userId)}`)
  }
})

t.test('metaverse encodes only its five events, in their 2d-metaverse shapes', async (t) => {
  const expected: Record<string, unknown> = {
    joined: { type: 'user-joined', payload: { userId: 'alice', x: 3, y: 4 } },
    moved: { type: 'movement', payload: { userId: 'alice', x: 5, y: 6 } },
    dropped: { type: 'user-left', payload: { userId: 'alice' } },
    'left (was connected)': { type: 'user-left', payload: { userId: 'alice' } },
    'left (a ghost)': undefined,
    welcome: {
      type: 'space-joined',
      payload: {
        userId: 'alice',
        spawn: { x: 7, y: 1 },
        users: [{ userId: 'bob', x: 1, y: 2 }, { userId: '42', x: 0, y: 0 }]
      }
    },
    idle: undefined,
    chat: undefined,
    'chat-history': undefined,
    'move-rejected': { type: 'movement-rejected', payload: { x: 1, y: 1 } },
    heartbeat: undefined,
    error: undefined,
    'error with close': undefined
  }
  const allowed = new Set(['space-joined', 'user-joined', 'movement', 'movement-rejected', 'user-left'])
  for (const [name, event] of events) {
    const wire = encodeMetaverse(event)
    t.strictSame(decode(wire), expected[name], `${name} → ${wire ?? 'nothing'}`)
    t.equal(codecs.metaverse(event), wire, `${name}: the codec table uses the same encoder`)
    if (wire !== undefined) t.ok(allowed.has(decode(wire)?.type ?? ''), `${name}: ${decode(wire)?.type} is one of the five`)
  }
  t.equal(encodeMetaverse({ kind: 'left', userId: 'alice', wasConnected: false }), undefined,
    'a ghost leaving sends nothing: its user-left went out at the drop')
  for (const code of Object.values(ErrorCode)) {
    t.equal(encodeMetaverse({ kind: 'error', code, message: 'm', close: 4001 }), undefined, `no error frame, even for ${code}`)
  }
  for (const reason of ['not-adjacent', 'out-of-bounds', 'blocked', 'rate-limited'] as const) {
    t.strictSame(decode(encodeMetaverse({ kind: 'move-rejected', x: 2, y: 3, reason })), { type: 'movement-rejected', payload: { x: 2, y: 3 } },
      `movement-rejected carries no reason (${reason})`)
  }
  const onlyGhosts = encodeMetaverse({
    kind: 'welcome', userId: 'alice', spawn: { x: 0, y: 0 }, users: [users[1] as UserView], resumed: true, space: spaceDefinition, chat: [chatMessage]
  })
  t.strictSame(decode(onlyGhosts), { type: 'space-joined', payload: { userId: 'alice', spawn: { x: 0, y: 0 }, users: [] } },
    'ghosts are left out of metaverse space-joined; no resumed, no space')
})

t.test('Broadcast encodes an event once per dialect, however many recipients', async (t) => {
  const calls: Record<Dialect, number> = { 'plaza.v1': 0, metaverse: 0 }
  const original = { ...codecs }
  for (const dialect of Object.keys(codecs) as Dialect[]) {
    const codec = original[dialect]
    codecs[dialect] = (event) => {
      calls[dialect]++
      return codec(event)
    }
  }
  t.teardown(() => { Object.assign(codecs, original) })

  const moved = new Broadcast({ kind: 'moved', userId: 'alice', x: 1, y: 2 })
  const v1 = Array.from({ length: 50 }, () => moved.frameFor('plaza.v1'))
  const mv = Array.from({ length: 50 }, () => moved.frameFor('metaverse'))
  t.strictSame(calls, { 'plaza.v1': 1, metaverse: 1 }, '100 recipients, two encodings')
  t.ok(v1.every((f) => f?.toString() === encodePlazaV1({ kind: 'moved', userId: 'alice', x: 1, y: 2 })), 'every plaza.v1 recipient gets the plaza.v1 frame')
  t.ok(mv.every((f) => f?.toString() === encodeMetaverse({ kind: 'moved', userId: 'alice', x: 1, y: 2 })), 'every metaverse recipient gets the metaverse frame')
  t.ok(v1.every((f) => f === v1[0]) && mv.every((f) => f === mv[0]), 'the same bytes for all: encoded to UTF-8 once, not per recipient')

  const ghostLeft = new Broadcast({ kind: 'left', userId: 'ghost', wasConnected: false })
  for (let i = 0; i < 10; i++) {
    t.equal(ghostLeft.frameFor('metaverse'), undefined)
    t.ok(ghostLeft.frameFor('plaza.v1') !== undefined)
  }
  t.strictSame(calls, { 'plaza.v1': 2, metaverse: 2 }, 'an event a dialect does not send is not re-encoded for each recipient either')

  const lazy = new Broadcast({ kind: 'dropped', userId: 'bob' })
  lazy.frameFor('plaza.v1')
  t.strictSame(calls, { 'plaza.v1': 3, metaverse: 2 }, 'a dialect nobody speaks is never encoded')
})
