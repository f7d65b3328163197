import t from 'tap'
import type { ChatMessage, PeerEntry, ServerMessage, SpaceJoined } from '../client/messages.js'
import { EMPTY_VIEW, MAX_HELD_CHAT, nextSpaceView as nextAt, type SpaceView, withOlderChat, withSelfAt } from '../client/space-view.js'

/** When every message of these tests is heard. */
const NOW = 1_700_000_100_000
const nextSpaceView = (view: SpaceView, message: ServerMessage): SpaceView => nextAt(view, message, NOW)

const space = { id: 'lobby', width: 10, height: 8, obstacles: [{ x: 0, y: 0, width: 1, height: 1 }] }
const bob: PeerEntry = { userId: 'bob', username: 'Bob', x: 2, y: 3, connected: true, lastActive: 1_700_000_000_000, idle: false }
const carol: PeerEntry = { userId: 'carol', username: 'Carol', x: 7, y: 1, connected: false, lastActive: 1_699_999_000_000, idle: false }

/** Chat message number `n`, said by Bob at second `n`. */
const said = (n: number, text = `message ${n}`): ChatMessage =>
  ({ id: `m${n}`, userId: 'bob', username: 'Bob', text, sentAt: 1_700_000_000_000 + n * 1000 })

const joinedMessage = (payload: Partial<SpaceJoined> = {}): ServerMessage => ({
  type: 'space-joined',
  payload: { userId: 'alice', spawn: { x: 4, y: 4 }, users: [bob, carol], resumed: false, space, chat: [], ...payload }
})

/** The view after each message in turn, starting with nothing known. */
const viewAfter = (...messages: ServerMessage[]): SpaceView => messages.reduce(nextSpaceView, EMPTY_VIEW)

/** What a view holds, as plain data that t.same can compare. */
const plain = (view: SpaceView) => ({ self: view.self, users: [...view.users.values()], space: view.space, chat: view.chat, moreChat: view.moreChat })

const ids = (view: SpaceView) => view.chat.map((m) => m.id)

t.test('space-joined: you at your spawn, everyone else from the list (ghosts included), the space', async (t) => {
  const view = viewAfter(joinedMessage())
  t.same(view.self, { userId: 'alice', x: 4, y: 4 })
  t.same([...view.users.values()], [bob, carol], 'in the order the server listed them')
  t.equal(view.users.get('carol')?.connected, false, 'a ghost is kept, marked')
  t.equal(view.users.size, 2)
  t.equal(view.space, space)
  t.not(view.users.get('bob'), bob, 'entries are copies: the event payload and the view do not share them')
})

t.test('user-joined-space adds someone connected, or brings a ghost back where they now are', async (t) => {
  const view = viewAfter(
    joinedMessage(),
    { type: 'user-joined-space', payload: { userId: 'dave', username: 'Dave', x: 5, y: 5 } },
    { type: 'user-joined-space', payload: { userId: 'carol', username: 'Carol', x: 6, y: 1 } }
  )
  t.same(view.users.get('dave'), { userId: 'dave', username: 'Dave', x: 5, y: 5, connected: true, lastActive: NOW, idle: false })
  t.same(view.users.get('carol'), { userId: 'carol', username: 'Carol', x: 6, y: 1, connected: true, lastActive: NOW, idle: false }, 'joining is activity')
  t.same([...view.users.keys()], ['bob', 'carol', 'dave'], 'someone who comes back keeps their place')
})

t.test('user-moved moves someone known (keeping their name), and shows someone unknown under their userId', async (t) => {
  const view = viewAfter(
    joinedMessage(),
    { type: 'user-moved', payload: { userId: 'bob', x: 3, y: 3 } },
    { type: 'user-moved', payload: { userId: 'carol', x: 7, y: 2 } },
    { type: 'user-moved', payload: { userId: 'erin', x: 0, y: 7 } }
  )
  t.same(view.users.get('bob'), { ...bob, x: 3, y: 3, lastActive: NOW })
  t.same(view.users.get('carol'), { ...carol, x: 7, y: 2, connected: true, lastActive: NOW }, 'a ghost that moves is connected again')
  t.same(view.users.get('erin'), { userId: 'erin', username: 'erin', x: 0, y: 7, connected: true, lastActive: NOW, idle: false })
  t.same(view.self, { userId: 'alice', x: 4, y: 4 }, 'others moving does not move you')
})

t.test('user-disconnected turns someone into a ghost where they stood; they stay in the space', async (t) => {
  const joined = viewAfter(joinedMessage())
  const view = nextSpaceView(joined, { type: 'user-disconnected', payload: { userId: 'bob' } })
  t.same(view.users.get('bob'), { ...bob, connected: false })
  t.equal(view.users.size, 2)
  t.equal(nextSpaceView(view, { type: 'user-disconnected', payload: { userId: 'nobody' } }), view, 'someone unknown: nothing changes')
})

t.test('user-left removes someone for good', async (t) => {
  const joined = viewAfter(joinedMessage())
  const view = nextSpaceView(joined, { type: 'user-left', payload: { userId: 'carol' } })
  t.same([...view.users.keys()], ['bob'])
  t.equal(view.users.has('carol'), false)
  t.equal(view.users.get('carol'), undefined)
  t.equal(nextSpaceView(view, { type: 'user-left', payload: { userId: 'carol' } }), view, 'someone already gone: nothing changes')
  const back = nextSpaceView(view, { type: 'user-joined-space', payload: { userId: 'carol', username: 'Carol', x: 1, y: 1 } })
  t.same([...back.users.keys()], ['bob', 'carol'], 'someone who left and joins again comes last, as in a Map')
})

t.test('move-rejected puts you back where the server has you, whatever your own moves predicted', async (t) => {
  const walked = withSelfAt(withSelfAt(viewAfter(joinedMessage()), { x: 5, y: 4 }), { x: 6, y: 4 })
  t.same(walked.self, { userId: 'alice', x: 6, y: 4 }, 'your moves show as they are sent')
  const view = nextSpaceView(walked, { type: 'move-rejected', payload: { x: 5, y: 4, reason: 'rate-limited' } })
  t.same(view.self, { userId: 'alice', x: 5, y: 4 })
  t.equal(view.users, walked.users, 'nobody else changes')
  const nowhere = nextSpaceView(EMPTY_VIEW, { type: 'move-rejected', payload: { x: 1, y: 1, reason: 'not-adjacent' } })
  t.equal(nowhere, EMPTY_VIEW, 'before a join there is no one to put back')
  t.equal(withSelfAt(EMPTY_VIEW, { x: 1, y: 1 }), EMPTY_VIEW)
})

t.test('a resume replaces the whole view with what the server says now', async (t) => {
  const before = viewAfter(
    joinedMessage(),
    { type: 'user-joined-space', payload: { userId: 'dave', username: 'Dave', x: 5, y: 5 } },
    { type: 'user-moved', payload: { userId: 'bob', x: 3, y: 3 } }
  )
  const resumedSpace = { ...space, obstacles: [] }
  const view = nextSpaceView(before, joinedMessage({
    spawn: { x: 6, y: 4 },
    resumed: true,
    users: [{ ...bob, x: 9, y: 7, connected: false }],
    space: resumedSpace
  }))
  t.same(plain(view), {
    self: { userId: 'alice', x: 6, y: 4 },
    users: [{ ...bob, x: 9, y: 7, connected: false }],
    space: resumedSpace,
    chat: [],
    moreChat: false
  }, 'who left meanwhile is gone, who dropped is a ghost, you are where you were')
})

t.test('heartbeat and error change nothing', async (t) => {
  const view = viewAfter(joinedMessage())
  t.equal(nextSpaceView(view, { type: 'heartbeat', payload: { timestamp: 1, serverTime: 2 } }), view)
  t.equal(nextSpaceView(view, { type: 'error', payload: { code: 'invalid-message', message: 'no' } }), view)
})

t.test('a view is never changed: each message gives a new one', async (t) => {
  const messages: ServerMessage[] = [
    joinedMessage(),
    { type: 'user-joined-space', payload: { userId: 'dave', username: 'Dave', x: 5, y: 5 } },
    { type: 'user-moved', payload: { userId: 'bob', x: 3, y: 3 } },
    { type: 'user-disconnected', payload: { userId: 'dave' } },
    { type: 'user-left', payload: { userId: 'carol' } },
    { type: 'move-rejected', payload: { x: 4, y: 3, reason: 'blocked' } },
    { type: 'user-idle', payload: { userId: 'bob', idle: true, lastActive: 5 } },
    { type: 'chat-message', payload: said(1) }
  ]
  let view = EMPTY_VIEW
  for (const message of messages) {
    const before = structuredClone(plain(view))
    const next = nextSpaceView(view, message)
    t.same(plain(view), before, `${message.type} left the view it was given as it was`)
    t.not(next, view, `${message.type} gave a new view`)
    view = next
  }
  t.same(plain(EMPTY_VIEW), { self: undefined, users: [], space: undefined, chat: [], moreChat: undefined })
})

t.test('users reads as any ReadonlyMap does: get, has, size, keys, values, entries, forEach, spread', async (t) => {
  const { users } = viewAfter(joinedMessage(), { type: 'user-moved', payload: { userId: 'bob', x: 3, y: 3 } })
  const moved = { ...bob, x: 3, y: 3, lastActive: NOW }
  t.same(new Map(users), new Map([['bob', moved], ['carol', carol]]))
  t.same([...users], [['bob', moved], ['carol', carol]])
  t.same([...users.entries()], [['bob', moved], ['carol', carol]])
  const seen: Array<[string, PeerEntry, boolean]> = []
  users.forEach((entry, userId, map) => { seen.push([userId, entry, map === users]) })
  t.same(seen, [['bob', moved, true], ['carol', carol, true]])
  t.equal(String(users), '[object PeerMap]')
})

t.test('user-idle marks someone idle or active again, with the lastActive the server gives; a move or a chat makes them active', async (t) => {
  const idle = viewAfter(joinedMessage(), { type: 'user-idle', payload: { userId: 'bob', idle: true, lastActive: 1_700_000_050_000 } })
  t.same(idle.users.get('bob'), { ...bob, idle: true, lastActive: 1_700_000_050_000 })
  t.same(idle.users.get('carol'), carol, 'no one else changes')
  const back = nextSpaceView(idle, { type: 'user-idle', payload: { userId: 'bob', idle: false, lastActive: 1_700_000_090_000 } })
  t.same(back.users.get('bob'), { ...bob, idle: false, lastActive: 1_700_000_090_000 })
  t.equal(nextSpaceView(idle, { type: 'user-idle', payload: { userId: 'nobody', idle: true, lastActive: 1 } }), idle, 'someone unknown: nothing changes')

  const moved = nextSpaceView(idle, { type: 'user-moved', payload: { userId: 'bob', x: 3, y: 3 } })
  t.same(moved.users.get('bob'), { ...bob, x: 3, y: 3, idle: false, lastActive: NOW }, 'a move is activity, as of when it was heard')
  const chatted = nextSpaceView(idle, { type: 'chat-message', payload: said(60) })
  t.same(chatted.users.get('bob'), { ...bob, idle: false, lastActive: said(60).sentAt }, 'a chat is activity, as of when the server took it')
  const ghost = nextSpaceView(idle, { type: 'user-disconnected', payload: { userId: 'bob' } })
  t.same(ghost.users.get('bob'), { ...bob, connected: false, idle: true, lastActive: 1_700_000_050_000 }, 'a ghost keeps the lastActive it had')
})

t.test('space-joined brings the chat and everyone\'s lastActive and idle as the server has them', async (t) => {
  const sleepy = { ...bob, idle: true }
  const view = viewAfter(joinedMessage({ users: [sleepy, carol], chat: [said(1), said(2)] }))
  t.same(view.users.get('bob'), sleepy)
  t.same(ids(view), ['m1', 'm2'])
  t.equal(view.moreChat, undefined, 'whether older messages exist is not known until a page is asked for')
  const quiet = viewAfter(joinedMessage({ chat: [] }))
  t.equal(quiet.moreChat, false, 'a join that brings no message: nothing older exists')
  t.equal(quiet.chatIds.size, 0)
})

t.test('chat-message is added after what is held, once per id', async (t) => {
  const joined = viewAfter(joinedMessage({ chat: [said(1)] }))
  const view = nextSpaceView(joined, { type: 'chat-message', payload: said(2, '<b>hi</b>') })
  t.same(ids(view), ['m1', 'm2'])
  t.equal(view.chat[1]?.text, '<b>hi</b>', 'kept as it was sent')
  t.equal(nextSpaceView(view, { type: 'chat-message', payload: said(2) }), view, 'a message already held: nothing changes')
  t.same(ids(joined), ['m1'], 'the view before is as it was')
  const stranger = nextSpaceView(joined, { type: 'chat-message', payload: { ...said(3), userId: 'zed' } })
  t.equal(stranger.users, joined.users, 'a sender the view does not know changes nobody')
})

t.test('withOlderChat puts a page before what is held, without what is held already, and says whether more exist', async (t) => {
  const joined = viewAfter(joinedMessage({ chat: [said(5), said(6)] }))
  const view = withOlderChat(joined, { messages: [said(3), said(4), said(5)], more: true })
  t.same(ids(view), ['m3', 'm4', 'm5', 'm6'])
  t.equal(view.moreChat, true)
  const start = withOlderChat(view, { messages: [said(1), said(2)], more: false })
  t.same(ids(start), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'])
  t.equal(start.moreChat, false, 'the start of the chat is reached')
  t.equal(start.users, joined.users)
  const empty = withOlderChat(viewAfter(joinedMessage()), { messages: [said(7)], more: false })
  t.same(ids(empty), ['m7'], 'holding nothing, the page is the newest one')
})

t.test('a rejoin of the same space keeps older pages when its messages carry on from what is held; otherwise they replace it', async (t) => {
  const held = withOlderChat(viewAfter(joinedMessage({ chat: [said(5), said(6)] })), { messages: [said(3), said(4)], more: true })
  const resumed = nextSpaceView(held, joinedMessage({ resumed: true, chat: [said(5), said(6), said(7), said(8)] }))
  t.same(ids(resumed), ['m3', 'm4', 'm5', 'm6', 'm7', 'm8'], 'no message twice; what was said while away is added')
  t.equal(resumed.moreChat, true, 'what is known of older messages still holds')

  const gap = nextSpaceView(held, joinedMessage({ resumed: true, chat: [said(20), said(21)] }))
  t.same(ids(gap), ['m20', 'm21'], 'more was said while away than a join carries: no hole in the middle')
  t.equal(gap.moreChat, undefined)

  const cleared = nextSpaceView(held, joinedMessage({ resumed: true, chat: [] }))
  t.same(ids(cleared), [], 'the history was deleted meanwhile')

  const elsewhere = nextSpaceView(held, joinedMessage({ space: { ...space, id: 'garden' }, chat: [said(5), said(9)] }))
  t.same(ids(elsewhere), ['m5', 'm9'], 'another space: nothing carries over')
})

t.test('the chat holds at most MAX_HELD_CHAT messages: the oldest go, and then older ones are known to exist', async (t) => {
  t.equal(MAX_HELD_CHAT, 1000)
  let view = nextSpaceView(viewAfter(joinedMessage({ chat: [said(1)] })), { type: 'chat-message', payload: said(2) })
  view = withOlderChat(view, { messages: [said(0)], more: false })
  t.equal(view.moreChat, false, 'the start of the chat is held')
  for (let n = 3; n < MAX_HELD_CHAT; n++) view = nextSpaceView(view, { type: 'chat-message', payload: said(n) })
  t.equal(view.chat.length, MAX_HELD_CHAT, 'at the cap')
  t.equal(view.moreChat, false, 'nothing dropped yet')
  view = nextSpaceView(view, { type: 'chat-message', payload: said(MAX_HELD_CHAT) })
  t.equal(view.chat.length, MAX_HELD_CHAT)
  t.equal(view.chat[0]?.id, 'm1', 'the oldest was dropped')
  t.equal(view.chat.at(-1)?.id, `m${MAX_HELD_CHAT}`, 'the newest is last')
  t.equal(view.moreChat, true, 'what was dropped is still on the server')
  t.same([...view.chatIds], ids(view), 'the ids held are those of the list')
  t.equal(view.chatIds.has('m0'), false)
  t.equal(nextSpaceView(view, { type: 'chat-message', payload: said(500) }), view, 'a message held is found by its id')

  const page = withOlderChat(view, { messages: [said(0)], more: false })
  t.equal(page.chat.length, MAX_HELD_CHAT + 1, 'a page asked for is kept whole')
  t.equal(page.chatIds.has('m0'), true)
  const next = nextSpaceView(page, { type: 'chat-message', payload: said(MAX_HELD_CHAT + 1) })
  t.equal(next.chat.length, MAX_HELD_CHAT, 'the next message brings it back to the cap')
  t.equal(next.chat[0]?.id, 'm2')
  t.equal(next.moreChat, true)

  const rejoined = nextSpaceView(view, joinedMessage({ resumed: true, chat: [said(MAX_HELD_CHAT), said(MAX_HELD_CHAT + 1)] }))
  t.equal(rejoined.chat.length, MAX_HELD_CHAT, 'a rejoin that carries on keeps to the cap too')
  t.equal(rejoined.chat.at(-1)?.id, `m${MAX_HELD_CHAT + 1}`)
  t.equal(rejoined.moreChat, true)
})
