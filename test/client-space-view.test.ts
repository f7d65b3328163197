import t from 'tap'
import type { PeerEntry, ServerMessage, SpaceJoined } from '../client/messages.js'
import { EMPTY_VIEW, nextSpaceView, type SpaceView, withSelfAt } from '../client/space-view.js'

const space = { id: 'lobby', width: 10, height: 8, obstacles: [{ x: 0, y: 0, width: 1, height: 1 }] }
const bob: PeerEntry = { userId: 'bob', username: 'Bob', x: 2, y: 3, connected: true }
const carol: PeerEntry = { userId: 'carol', username: 'Carol', x: 7, y: 1, connected: false }

const joinedMessage = (payload: Partial<SpaceJoined> = {}): ServerMessage => ({
  type: 'space-joined',
  payload: { userId: 'alice', spawn: { x: 4, y: 4 }, users: [bob, carol], resumed: false, space, ...payload }
})

/** The view after each message in turn, starting with nothing known. */
const viewAfter = (...messages: ServerMessage[]): SpaceView => messages.reduce(nextSpaceView, EMPTY_VIEW)

/** What a view holds, as plain data that t.same can compare. */
const plain = (view: SpaceView) => ({ self: view.self, users: [...view.users.values()], space: view.space })

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
  t.same(view.users.get('dave'), { userId: 'dave', username: 'Dave', x: 5, y: 5, connected: true })
  t.same(view.users.get('carol'), { userId: 'carol', username: 'Carol', x: 6, y: 1, connected: true })
  t.same([...view.users.keys()], ['bob', 'carol', 'dave'], 'someone who comes back keeps their place')
})

t.test('user-moved moves someone known (keeping their name), and shows someone unknown under their userId', async (t) => {
  const view = viewAfter(
    joinedMessage(),
    { type: 'user-moved', payload: { userId: 'bob', x: 3, y: 3 } },
    { type: 'user-moved', payload: { userId: 'carol', x: 7, y: 2 } },
    { type: 'user-moved', payload: { userId: 'erin', x: 0, y: 7 } }
  )
  t.same(view.users.get('bob'), { ...bob, x: 3, y: 3 })
  t.same(view.users.get('carol'), { ...carol, x: 7, y: 2, connected: true }, 'a ghost that moves is connected again')
  t.same(view.users.get('erin'), { userId: 'erin', username: 'erin', x: 0, y: 7, connected: true })
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
    space: resumedSpace
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
    { type: 'move-rejected', payload: { x: 4, y: 3, reason: 'blocked' } }
  ]
  let view = EMPTY_VIEW
  for (const message of messages) {
    const before = structuredClone(plain(view))
    const next = nextSpaceView(view, message)
    t.same(plain(view), before, `${message.type} left the view it was given as it was`)
    t.not(next, view, `${message.type} gave a new view`)
    view = next
  }
  t.same(plain(EMPTY_VIEW), { self: undefined, users: [], space: undefined })
})

t.test('users reads as any ReadonlyMap does: get, has, size, keys, values, entries, forEach, spread', async (t) => {
  const { users } = viewAfter(joinedMessage(), { type: 'user-moved', payload: { userId: 'bob', x: 3, y: 3 } })
  const moved = { ...bob, x: 3, y: 3 }
  t.same(new Map(users), new Map([['bob', moved], ['carol', carol]]))
  t.same([...users], [['bob', moved], ['carol', carol]])
  t.same([...users.entries()], [['bob', moved], ['carol', carol]])
  const seen: Array<[string, PeerEntry, boolean]> = []
  users.forEach((entry, userId, map) => { seen.push([userId, entry, map === users]) })
  t.same(seen, [['bob', moved, true], ['carol', carol, true]])
  t.equal(String(users), '[object PeerMap]')
})
