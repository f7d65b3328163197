import t, { type Test } from 'tap'
import type { DirectEvent } from '../src/events.js'
import { silentLogger } from '../src/logger.js'
import { MemoryPresenceStore } from '../src/presence/memory-store.js'
import type { Dialect, ErrorCode } from '../src/protocol.js'
import type { Member, Peer } from '../src/rooms/member.js'
import { RoomManager, type SessionEvents } from '../src/rooms/room-manager.js'
import { Space, type SpaceDefinition } from '../src/spaces/space.js'

/** The room manager alone, over the memory store: no sockets, no Redis, each test in milliseconds. */

interface Frame { type: string, payload: Record<string, unknown> }

/** A connection that records what it is sent: broadcast frames as parsed JSON, direct events as they are. */
class FakePeer implements Peer {
  static made = 0
  readonly connectionId = `c${++FakePeer.made}`
  readonly dialect: Dialect
  isOpen = true
  readonly frames: Frame[] = []
  readonly told: DirectEvent[] = []
  ended: { code: ErrorCode, message: string, close: number } | undefined

  constructor (dialect: Dialect = 'plaza.v1') {
    this.dialect = dialect
  }

  send (frame: string | Buffer): void {
    this.frames.push(JSON.parse(frame.toString()) as Frame)
  }

  tell (event: DirectEvent): void {
    this.told.push(event)
  }

  end (error: { code: ErrorCode, message: string, close: number }): void {
    this.ended = error
    this.isOpen = false
  }

  welcome (): Extract<DirectEvent, { kind: 'welcome' }> {
    const welcome = this.told.find((e) => e.kind === 'welcome')
    if (welcome?.kind !== 'welcome') throw new Error('no welcome')
    return welcome
  }

  types (): string[] {
    return this.frames.map((f) => f.type)
  }
}

const HALL: SpaceDefinition = { id: 'hall', width: 10, height: 10, obstacles: [{ x: 5, y: 5, width: 1, height: 1 }] }

/** What the room manager told the analytics, in order. */
class RecordedSessions implements SessionEvents {
  readonly calls: string[] = []
  sessionStarted (spaceId: string, userId: string): void { this.calls.push(`started ${spaceId} ${userId}`) }
  sessionResumed (spaceId: string, userId: string): void { this.calls.push(`resumed ${spaceId} ${userId}`) }
  sessionEnded (spaceId: string, startedAt: number, endedAt: number): void { this.calls.push(`ended ${spaceId} ${endedAt >= startedAt ? 'after' : 'before'} its start`) }
  chatCounted (spaceId: string): void { this.calls.push(`chat ${spaceId}`) }
  occupancyChanged (spaceId: string): void { this.calls.push(`occupancy ${spaceId}`) }
}

function setup (t: Test, options: { maxMovesPerS?: number, maxSpacesPerUser?: number, idleAfterMs?: number } = {}) {
  const spaces = new Map<string, Space>([[HALL.id, new Space(HALL)], ['yard', new Space({ id: 'yard', width: 4, height: 4, obstacles: [] })]])
  const presence = new MemoryPresenceStore('server-1')
  const sessions = new RecordedSessions()
  const rooms = new RoomManager({
    spaces: { get: (id) => spaces.get(id), lookup: async (id) => spaces.get(id) },
    presence,
    serverId: 'server-1',
    log: silentLogger,
    maxStep: 1,
    maxMovesPerS: options.maxMovesPerS ?? 20,
    maxSpacesPerUser: options.maxSpacesPerUser,
    refreshIntervalMs: 60_000,
    idleAfterMs: options.idleAfterMs ?? 60_000,
    analytics: sessions,
    random: () => 0.5
  })
  t.teardown(() => rooms.close())
  const join = async (userId: string, spaceId = 'hall', peer = new FakePeer(), username = userId): Promise<{ peer: FakePeer, member: Member }> => {
    const outcome = await rooms.join(peer, { userId, username }, spaceId)
    if (typeof outcome === 'string') throw new Error(`join of ${userId}: ${outcome}`)
    return { peer, member: outcome }
  }
  return { rooms, presence, spaces, join, sessions }
}

t.test('a fresh join spawns on a free walkable tile, sees everyone else, and is announced to them', async (t) => {
  const { join } = setup(t)
  const alice = await join('alice')
  const w = alice.peer.welcome()
  t.equal(w.resumed, false)
  t.same(w.users, [])
  t.same(w.space, HALL)
  const bob = await join('bob')
  const wb = bob.peer.welcome()
  t.same(wb.users, [{ userId: 'alice', username: 'alice', x: alice.member.x, y: alice.member.y, connected: true, lastActive: alice.member.lastActive, idle: false }])
  t.not(`${wb.spawn.x},${wb.spawn.y}`, `${alice.member.x},${alice.member.y}`, 'not on a tile someone stands on')
  t.not(`${wb.spawn.x},${wb.spawn.y}`, '5,5', 'not on the obstacle')
  t.same(alice.peer.frames, [{ type: 'user-joined-space', payload: { userId: 'bob', username: 'bob', x: wb.spawn.x, y: wb.spawn.y } }])
  t.same(bob.peer.frames, [], 'the joiner is not told of itself')
})

t.test('a move one tile away is broadcast to the others, never echoed, and stored', async (t) => {
  const { join, rooms, presence } = setup(t)
  const alice = await join('alice')
  const bob = await join('bob')
  const { x, y } = alice.member
  rooms.move(alice.member, x + 1, y)
  t.same(bob.peer.frames.at(-1), { type: 'user-moved', payload: { userId: 'alice', x: x + 1, y } })
  t.equal(alice.peer.frames.length, 1, 'alice heard only of bob joining')
  const { users } = await presence.claimAndRead('hall', 'carol', true)
  t.equal(users.length, 0, 'connected users of this server are left to its memory')
  rooms.drop(alice.member, alice.peer)
  const after = await presence.claimAndRead('hall', 'carol', false)
  t.match(after.users, [{ userId: 'alice', x: x + 1, y, connected: false }], 'the stored record has the moved position')
})

t.test('a refused move tells only the mover its authoritative position, with the first reason that applies', async (t) => {
  const { join, rooms, spaces } = setup(t)
  const alice = await join('alice')
  const bob = await join('bob')
  // Put alice beside the obstacle at (5, 5) on the left, at (4, 5).
  alice.member.x = 4
  alice.member.y = 5
  const cases: Array<[number, number, string]> = [
    [-1, 5, 'out-of-bounds'], // far and outside: outside wins
    [4, 5, 'not-adjacent'], // distance 0
    [6, 5, 'not-adjacent'], // two tiles away
    [5, 5, 'blocked']
  ]
  for (const [x, y, reason] of cases) {
    alice.peer.told.length = 0
    rooms.move(alice.member, x, y)
    t.same(alice.peer.told, [{ kind: 'move-rejected', x: 4, y: 5, reason }], `(${x}, ${y}) is ${reason}`)
  }
  t.equal(bob.peer.frames.filter((f) => f.type === 'user-moved').length, 0, 'nobody else heard of them')
  t.ok(spaces.get('hall')?.isWalkable(4, 4))
})

t.test('moves over MAX_MOVES_PER_S in a second are refused as rate-limited', async (t) => {
  const { join, rooms } = setup(t, { maxMovesPerS: 3 })
  const { member, peer } = await join('alice', 'yard')
  const start = { x: member.x, y: member.y }
  const step = (): void => rooms.move(member, member.x === start.x ? start.x + (start.x < 3 ? 1 : -1) : start.x, start.y)
  for (let i = 0; i < 3; i++) step()
  t.same(peer.told.filter((e) => e.kind === 'move-rejected'), [], 'three moves pass')
  step()
  t.match(peer.told.at(-1), { kind: 'move-rejected', reason: 'rate-limited' })
})

t.test('a second connection of a connected user takes the avatar over silently, with the new username', async (t) => {
  const { join } = setup(t)
  const alice = await join('alice')
  const bob = await join('bob')
  const before = bob.peer.frames.length
  const again = await join('alice', 'hall', new FakePeer(), 'Alice Again')
  t.match(alice.peer.ended, { code: 'replaced', close: 4009 })
  t.equal(again.member, alice.member, 'the same avatar')
  t.equal(again.member.username, 'Alice Again')
  t.equal(again.peer.welcome().resumed, true)
  t.same(again.peer.welcome().spawn, { x: alice.member.x, y: alice.member.y })
  t.equal(bob.peer.frames.length, before, 'peers see no leave and no join')
  const carol = await join('carol')
  t.match(carol.peer.welcome().users.find((u) => u.userId === 'alice'), { username: 'Alice Again' })
})

t.test('a dropped user stays as a ghost and resumes where they were', async (t) => {
  const { join, rooms } = setup(t)
  const alice = await join('alice')
  const bob = await join('bob')
  const at = { x: alice.member.x, y: alice.member.y }
  rooms.drop(alice.member, alice.peer)
  t.same(bob.peer.frames.at(-1), { type: 'user-disconnected', payload: { userId: 'alice' } })
  const carol = await join('carol')
  t.match(carol.peer.welcome().users, [{ userId: 'bob', connected: true }, { userId: 'alice', ...at, connected: false }])
  const back = await join('alice')
  t.equal(back.peer.welcome().resumed, true)
  t.same(back.peer.welcome().spawn, at)
  t.same(bob.peer.frames.at(-1), { type: 'user-joined-space', payload: { userId: 'alice', username: 'alice', ...at } })
})

t.test('a ghost whose tile is no longer walkable spawns afresh, resumed: false', async (t) => {
  const { join, rooms, spaces } = setup(t)
  const alice = await join('alice')
  const at = { x: alice.member.x, y: alice.member.y }
  rooms.drop(alice.member, alice.peer)
  spaces.set('hall', new Space({ ...HALL, obstacles: [...HALL.obstacles, { ...at, width: 1, height: 1 }] }))
  const back = await join('alice')
  t.equal(back.peer.welcome().resumed, false)
  t.not(`${back.member.x},${back.member.y}`, `${at.x},${at.y}`)
})

t.test('a leave removes the user from memory and the store, and the next join is fresh', async (t) => {
  const { join, rooms, presence } = setup(t)
  const alice = await join('alice')
  const bob = await join('bob')
  rooms.leave(alice.member, alice.peer)
  t.same(bob.peer.frames.at(-1), { type: 'user-left', payload: { userId: 'alice' } })
  t.same(rooms.stats().spacesWithUsers, [{ spaceId: 'hall', userCount: 1 }])
  t.equal((await presence.census()).totalUsers, 1, 'only bob is stored')
  const back = await join('alice')
  t.equal(back.peer.welcome().resumed, false)
})

t.test('a drop or a leave by a connection that no longer holds the avatar changes nothing', async (t) => {
  const { join, rooms } = setup(t)
  const alice = await join('alice')
  const again = await join('alice')
  const bob = await join('bob')
  rooms.drop(alice.member, alice.peer)
  rooms.leave(alice.member, alice.peer)
  t.equal(bob.peer.frames.length, 0, 'nobody was told')
  t.equal(again.member.connected, true)
})

t.test('joins are refused for an unknown space, a closed peer, and past MAX_SPACES_PER_USER', async (t) => {
  const { rooms, join } = setup(t, { maxSpacesPerUser: 1 })
  t.equal(await rooms.join(new FakePeer(), { userId: 'alice', username: 'alice' }, 'nowhere'), 'unknown-space')
  const closed = new FakePeer()
  closed.isOpen = false
  t.equal(await rooms.join(closed, { userId: 'alice', username: 'alice' }, 'hall'), 'gone')
  await join('alice', 'hall')
  t.equal(await rooms.join(new FakePeer(), { userId: 'alice', username: 'alice' }, 'yard'), 'too-many-spaces')
  t.type(await rooms.join(new FakePeer(), { userId: 'alice', username: 'alice' }, 'hall'), 'object', 'a take-over in the same space is not one more space')
})

t.test('metaverse peers get their dialect\'s frames from the same broadcast', async (t) => {
  const { join, rooms } = setup(t)
  const alice = await join('alice')
  const old = await join('bob', 'hall', new FakePeer('metaverse'))
  rooms.move(alice.member, alice.member.x + 1, alice.member.y)
  rooms.drop(alice.member, alice.peer)
  t.same(old.peer.types(), ['movement', 'user-left'])
})

t.test('evicting a space ends its connections with 4004', async (t) => {
  const { join, rooms } = setup(t)
  const alice = await join('alice')
  t.equal(rooms.evict('hall'), true)
  t.match(alice.peer.ended, { code: 'unknown-space', close: 4004 })
  t.same(rooms.stats().spacesWithUsers, [])
  t.equal(rooms.evict('hall'), false)
})

t.test('chat reaches everyone in the space, the sender too, and the next joiner finds it in space-joined.chat', async (t) => {
  const { rooms, join, sessions } = setup(t)
  const alice = await join('alice')
  const bob = await join('bob')
  const other = await join('carol', 'yard')
  rooms.chat(alice.member, '<b>hi</b>')
  const message = { type: 'chat-message', payload: { id: '1', userId: 'alice', username: 'alice', text: '<b>hi</b>', sentAt: alice.member.lastActive } }
  t.same(alice.peer.frames.filter((f) => f.type === 'chat-message'), [message], 'the sender gets it too')
  t.same(bob.peer.frames.filter((f) => f.type === 'chat-message'), [message], 'a peer gets it once')
  t.same(other.peer.frames, [], 'nobody in another space hears it')
  const dave = await join('dave')
  t.same(dave.peer.welcome().chat, [message.payload], 'a joiner reads it in space-joined.chat')
  t.ok(sessions.calls.includes('chat hall'), 'counted for the analytics')

  const first = await rooms.chatHistory(bob.member, bob.peer, undefined, 10)
  t.equal(first, 'sent')
  t.same(bob.peer.told.at(-1), { kind: 'chat-history', messages: [message.payload], more: false }, 'a page of history')
  t.equal(await rooms.chatHistory(bob.member, bob.peer, 'no-such-id', 10), 'unknown', 'an unknown `before` is said to be unknown')
})

t.test('an idle user is told once to peers; their next activity ends it, told before the activity itself', async (t) => {
  const { rooms, join } = setup(t, { idleAfterMs: 1000 })
  const alice = await join('alice')
  const bob = await join('bob', 'hall', new FakePeer())
  const meta = await join('mia', 'hall', new FakePeer('metaverse'))
  const later = alice.member.lastActive + 1000
  rooms.markIdle(later - 1)
  t.same(bob.peer.frames.filter((f) => f.type === 'user-idle'), [], 'not before IDLE_AFTER_MS')
  rooms.markIdle(later)
  rooms.markIdle(later + 500)
  const idle = bob.peer.frames.filter((f) => f.type === 'user-idle' && f.payload.userId === 'alice')
  t.same(idle, [{ type: 'user-idle', payload: { userId: 'alice', idle: true, lastActive: alice.member.lastActive } }], 'once, with the last activity')
  t.notOk(alice.peer.frames.some((f) => f.type === 'user-idle' && f.payload.userId === 'alice'), 'the idle user is not told of themselves')
  t.notOk(meta.peer.frames.some((f) => f.type === 'user-idle'), 'metaverse peers hear nothing of it')
  t.ok(alice.member.idle)

  const carol = await join('carol')
  t.match(carol.peer.welcome().users.find((u) => u.userId === 'alice'), { idle: true, lastActive: alice.member.lastActive }, 'a joiner sees who is idle')

  bob.peer.frames.length = 0
  rooms.move(alice.member, alice.member.x + 1, alice.member.y)
  t.same(bob.peer.types(), ['user-idle', 'user-moved'], 'active again, then the move')
  t.match(bob.peer.frames[0], { payload: { userId: 'alice', idle: false } })
  rooms.move(alice.member, alice.member.x - 1, alice.member.y)
  t.same(bob.peer.types(), ['user-idle', 'user-moved', 'user-moved'], 'told once')

  bob.peer.frames.length = 0
  rooms.markIdle(Date.now() + 2000)
  bob.peer.frames.length = 0
  rooms.active(carol.member)
  rooms.chat(alice.member, 'back')
  t.same(bob.peer.frames.filter((f) => f.payload.userId === 'alice').map((f) => `${f.type} ${String(f.payload.idle ?? '')}`), ['user-idle false', 'chat-message '],
    'a chat ends idleness too, told before the message')
  t.ok(bob.peer.frames.some((f) => f.type === 'user-idle' && f.payload.userId === 'carol' && f.payload.idle === false), 'so does an `active` message')
})

t.test('sessions: a fresh entry starts one, a resume and a take-over continue it, a leave ends it', async (t) => {
  const { rooms, join, sessions } = setup(t)
  const first = await join('alice')
  const start = first.member.sessionStart
  rooms.drop(first.member, first.peer)
  const back = await join('alice')
  t.equal(back.member.sessionStart, start, 'a resume keeps the session\'s start')
  const tab = await join('alice')
  t.equal(tab.member.sessionStart, start, 'so does a take-over')
  rooms.leave(tab.member, tab.peer)
  await join('alice')
  t.same(sessions.calls, [
    'started hall alice', 'occupancy hall',
    'resumed hall alice', 'occupancy hall',
    'resumed hall alice', 'occupancy hall',
    'ended hall after its start',
    'started hall alice', 'occupancy hall'
  ])
})

t.test('an idle user who drops and comes back is told active again before their join; a new UTC day counts who is here', async (t) => {
  const { rooms, join, sessions } = setup(t, { idleAfterMs: 20 })
  const alice = await join('alice')
  const bob = await join('bob')
  await new Promise((resolve) => setTimeout(resolve, 40))
  rooms.markIdle()
  t.ok(alice.member.idle)
  rooms.drop(alice.member, alice.peer)
  // Her ghost's lastActive is old: the store has it as the member left it.
  bob.peer.frames.length = 0
  const back = await join('alice')
  t.same(bob.peer.frames.map((f) => `${f.type} ${String(f.payload.idle ?? '')}`), ['user-idle false', 'user-joined-space '],
    'user-idle false, then the join')
  t.equal(back.member.idle, false)

  sessions.calls.length = 0
  rooms.markIdle(Date.now() + 86_400_000)
  t.same(sessions.calls, ['occupancy hall'], 'each room\'s occupancy at the first pass of a new day')
  rooms.markIdle(Date.now() + 86_400_000 + 1000)
  t.same(sessions.calls, ['occupancy hall'], 'once a day')
})
