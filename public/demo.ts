/**
 * The demo page at /space/:spaceId: sign in as a guest (or bring a token in the URL's #token=),
 * join the space with the Plaza client, draw it, walk with the arrow keys or WASD, and chat.
 */
import { type ChatMessage, PlazaClient, type StatusChange } from '../client/index.js'
import { Space } from '../src/spaces/space.js'
import { colorOf, draw } from './render.js'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

/** The space in the address, or '' when it is not valid percent-encoding (the server then says there is no such space). */
const spaceId = ((): string => {
  try {
    return decodeURIComponent(location.pathname.split('/')[2] ?? '')
  } catch {
    return ''
  }
})()
const TOKEN_KEY = `plaza.session.${spaceId}`
const MOVE_EVERY_MS = 100
/** How often "idle 3 min" is brought up to date. */
const IDLE_REFRESH_MS = 30_000

interface Session { token: string, username: string }

const ui = {
  spaceName: $('space-name'),
  status: $('status'),
  statusText: $('status-text'),
  retry: $<HTMLButtonElement>('retry'),
  signIn: $<HTMLFormElement>('sign-in'),
  username: $<HTMLInputElement>('username'),
  signInError: $('sign-in-error'),
  space: $('space'),
  canvas: $<HTMLCanvasElement>('map'),
  people: $<HTMLUListElement>('people'),
  peopleCount: $('people-count'),
  leave: $<HTMLButtonElement>('leave'),
  chat: $('chat'),
  chatLog: $('chat-log'),
  chatTop: $('chat-top'),
  chatMessages: $<HTMLOListElement>('chat-messages'),
  chatNote: $('chat-note'),
  chatForm: $<HTMLFormElement>('chat-form'),
  chatInput: $<HTMLInputElement>('chat-input')
}
ui.spaceName.textContent = spaceId

/** A token from the URL fragment (never sent to a server's logs), or this tab's guest session. */
function storedSession (): Session | undefined {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token')
  if (fromHash !== null && fromHash !== '') return { token: fromHash, username: '' }
  const saved = sessionStorage.getItem(TOKEN_KEY)
  if (saved === null) return undefined
  try {
    return JSON.parse(saved) as Session
  } catch {
    return undefined
  }
}

async function signInAsGuest (username: string): Promise<Session> {
  const response = await fetch('/auth/guest', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username })
  })
  if (response.status === 404) throw new Error('Guest sign-in is off on this server: open this page with #token=<a JWT> at the end of its address.')
  const body = await response.json() as { token?: string, username?: string, message?: string }
  if (!response.ok || body.token === undefined) throw new Error(body.message ?? `sign-in failed (${response.status})`)
  const session = { token: body.token, username: body.username ?? username }
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session))
  return session
}

// The name is not filled in from another window: the same name there would take its avatar over.
function showSignIn (message = ''): void {
  ui.space.hidden = true
  ui.status.hidden = true
  ui.signIn.hidden = false
  ui.signInError.textContent = message
  ui.username.focus()
}

ui.signIn.addEventListener('submit', (event) => {
  event.preventDefault()
  ui.signInError.textContent = ''
  signInAsGuest(ui.username.value).then(enter, (err: Error) => { ui.signInError.textContent = err.message })
})

let client: PlazaClient | undefined
/** Your display name, as the guest route gave it ('' with a token from the URL: your userId shows). */
let username = ''
/** The server's own rules for where one may stand, to refuse here what it would refuse anyway. */
let rules: Space | undefined
let lastMoveAt = 0

function enter (session: Session): void {
  ui.signIn.hidden = true
  ui.space.hidden = false
  ui.status.hidden = false
  username = session.username
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const current = new PlazaClient({ url: `${scheme}://${location.host}/ws`, token: session.token })
  client = current
  current.on('space-joined', ({ space }) => {
    rules = new Space({ ...space, obstacles: space.obstacles.map((o) => ({ width: 1, height: 1, ...o })) })
  })
  current.on('status', showStatus)
  for (const event of ['users', 'space-joined', 'move-rejected', 'status', 'chat', 'chat-history'] as const) current.on(event, render)
  current.on('chat', (message) => { if (message.userId === current.self?.userId) chatToEnd = true })
  current.on('chat-refused', ({ message, text }) => {
    showChatNote(`Not sent: ${message}`)
    // Back in the box to be shortened or sent later, unless something else is being typed.
    if (ui.chatInput.value === '') ui.chatInput.value = text
  })
  current.on('status', (status) => {
    if (status.status === 'offline' && status.reason === 'bad-token' && session.username !== '') {
      // An expired guest token, or a server with a new secret: ask for the name again.
      sessionStorage.removeItem(TOKEN_KEY)
      current.close()
      client = undefined
      showSignIn('Your session expired: join again.')
    }
  })
  void current.join(spaceId)
  ui.canvas.focus()
}

ui.leave.onclick = () => {
  client?.leave()
  render()
}
ui.retry.onclick = () => {
  if (client === undefined) return
  if (client.status.status === 'idle') void client.join(spaceId)
  else client.reconnectNow()
}

// Someone at the keyboard: peers must not see them idle (the library sends one `active` per 5 s at most).
window.addEventListener('focus', () => { client?.markActive() })

window.addEventListener('keydown', (event) => {
  client?.markActive()
  if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return
  const step = STEPS[event.key]
  if (step === undefined || client === undefined) return
  event.preventDefault()
  // Only where the server hears it: a walk while offline would be refused on return.
  if (client.status.status !== 'connected') return
  const { self } = client
  if (self === undefined || performance.now() - lastMoveAt < MOVE_EVERY_MS) return
  const x = self.x + step[0]
  const y = self.y + step[1]
  // Refused here what the server would refuse anyway: off the map, or onto an obstacle.
  if (rules?.isWalkable(x, y) !== true) return
  lastMoveAt = performance.now()
  client.move(x, y)
  render()
})

const STEPS: Record<string, [number, number]> = {
  ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0],
  w: [0, -1], s: [0, 1], a: [-1, 0], d: [1, 0], W: [0, -1], S: [0, 1], A: [-1, 0], D: [1, 0]
}

const OFFLINE_TEXT: Record<string, string> = {
  'gave-up': 'Offline: the server did not answer',
  disconnected: 'Offline',
  'bad-token': 'Offline: the token was refused',
  'unknown-space': `Offline: there is no space "${spaceId}" on this server`,
  replaced: 'Offline: this space was opened in another window',
  'protocol-error': 'Offline: the server closed the connection (protocol error)'
}

/** The connection indicator: connected, reconnecting in N s, or offline and why. */
function showStatus (status: StatusChange): void {
  ui.status.dataset.status = status.status
  ui.retry.hidden = true
  ui.leave.hidden = status.status !== 'connected'
  switch (status.status) {
    case 'idle':
      ui.statusText.textContent = 'You left the space'
      ui.retry.textContent = 'Join again'
      ui.retry.hidden = false
      return
    case 'connecting':
      ui.statusText.textContent = 'Connecting…'
      return
    case 'connected':
      ui.statusText.textContent = 'Connected'
      return
    case 'reconnecting': {
      if (status.waitingForNetwork === true) {
        ui.status.dataset.status = 'offline'
        ui.statusText.textContent = 'Offline: no network; reconnecting when it is back'
        // The browser may be wrong about the network: let the user try anyway.
        ui.retry.textContent = 'Reconnect now'
        ui.retry.hidden = false
        return
      }
      const seconds = Math.ceil(((status.retryAt ?? 0) - Date.now()) / 1000)
      const attempt = `attempt ${status.attempt} of ${status.maxAttempts}`
      ui.statusText.textContent = seconds > 0 ? `Reconnecting in ${seconds} s (${attempt})` : `Reconnecting… (${attempt})`
      ui.retry.textContent = 'Reconnect now'
      ui.retry.hidden = seconds <= 0
      return
    }
    case 'offline':
      ui.statusText.textContent = navigator.onLine ? OFFLINE_TEXT[status.reason ?? 'disconnected'] ?? 'Offline' : 'Offline: no network'
      ui.retry.textContent = status.reason === 'replaced' ? 'Use it here' : 'Reconnect'
      // Trying again helps only where the server's answer may change.
      ui.retry.hidden = !(status.reason === 'gave-up' || status.reason === 'disconnected' || status.reason === 'replaced')
      return
    case 'closed':
      ui.statusText.textContent = 'Closed'
  }
}
// The countdown moves on between status changes.
setInterval(() => { if (client?.status.status === 'reconnecting') showStatus(client.status) }, 250)

let frame = 0
function render (): void {
  if (frame !== 0) return
  frame = requestAnimationFrame(() => {
    frame = 0
    if (client === undefined) return
    const { space, self, users } = client
    // Out of a space (after leaving) there is nothing to show.
    ui.canvas.hidden = space === undefined
    ui.chat.hidden = space === undefined
    if (space !== undefined) {
      // Beside the side column when the window is wide enough; above it on a phone.
      const maxWidth = Math.max(200, Math.min(960, window.innerWidth - (window.innerWidth >= 720 ? 440 : 50)))
      draw(ui.canvas, { space, users: users.values(), self: self && { ...self, username: username || self.userId } }, maxWidth)
    }
    renderPeople()
    renderChat()
  })
}

/** "idle", "idle 3 min", "idle 2 h": how long since someone's last activity. */
function idleFor (lastActive: number): string {
  const minutes = Math.floor((Date.now() - lastActive) / 60_000)
  if (minutes < 1) return 'idle'
  return minutes < 60 ? `idle ${minutes} min` : `idle ${Math.floor(minutes / 60)} h`
}

/** The people list: you first, then everyone else by name; ghosts marked away, the idle marked idle. */
function renderPeople (): void {
  if (client === undefined) return
  const { self, users } = client
  const rows: HTMLLIElement[] = []
  const row = (userId: string, name: string, x: number, y: number, connected: boolean, isSelf: boolean, idleSince?: number): HTMLLIElement => {
    const li = document.createElement('li')
    li.dataset.userId = userId
    li.dataset.x = String(x)
    li.dataset.y = String(y)
    li.dataset.connected = String(connected)
    const idle = connected && idleSince !== undefined
    li.dataset.idle = String(idle)
    if (isSelf) li.dataset.self = 'true'
    li.className = !connected ? 'ghost' : idle ? 'idle' : 'here'
    const swatch = document.createElement('span')
    swatch.className = 'swatch'
    swatch.style.background = colorOf(userId)
    const label = document.createElement('span')
    label.className = 'name'
    label.textContent = isSelf ? `${name} (you)` : !connected ? `${name} (away)` : idle ? `${name} (${idleFor(idleSince)})` : name
    const where = document.createElement('span')
    where.className = 'where'
    where.textContent = `${x}, ${y}`
    li.append(swatch, label, where)
    return li
  }
  if (self !== undefined) rows.push(row(self.userId, username || self.userId, self.x, self.y, client.status.status === 'connected', true))
  const others = [...users.values()].sort((a, b) => a.username.localeCompare(b.username))
  for (const u of others) rows.push(row(u.userId, u.username, u.x, u.y, u.connected, false, u.idle ? u.lastActive : undefined))
  ui.people.replaceChildren(...rows)
  ui.peopleCount.textContent = self === undefined ? '' : `(${others.filter((u) => u.connected).length + 1})`
}

/** The chat: each message once, as text (never HTML); older ones above as the list is scrolled up. */
const chatItems = new Map<string, HTMLLIElement>()
/** The next render scrolls to the newest message (after you said something). */
let chatToEnd = false
let loadingOlder = false
/** What the chat panel shows: the client's chat it was built from, and the top line's state. */
let shownChat: readonly ChatMessage[] = []
let shownTop = ''

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })

function chatItem (message: ChatMessage): HTMLLIElement {
  const known = chatItems.get(message.id)
  if (known !== undefined) return known
  const li = document.createElement('li')
  li.dataset.id = message.id
  li.dataset.userId = message.userId
  const who = document.createElement('span')
  who.className = 'who'
  who.style.color = colorOf(message.userId)
  who.textContent = message.username
  const time = document.createElement('time')
  time.dateTime = new Date(message.sentAt).toISOString()
  time.textContent = timeFormat.format(message.sentAt)
  const text = document.createElement('span')
  text.className = 'text'
  text.textContent = message.text
  li.append(who, time, text)
  chatItems.set(message.id, li)
  return li
}

/**
 * Brings the chat panel up to the client's chat, touching only what changed: new messages at the
 * end, an older page at the top, the oldest gone; a list that does not carry on from what is shown
 * (a join) is built again. A render for anything else (a peer moving) changes nothing here.
 */
function renderChat (): void {
  if (client === undefined) return
  const { chat, moreChat } = client
  renderChatTop(chat.length, moreChat)
  if (chat === shownChat) return
  shownChat = chat
  const log = ui.chatLog
  const list = ui.chatMessages
  // Read where the reader is before anything changes: at the newest message, or further up.
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24
  const held = new Map(chat.map((message, at) => [message.id, at]))
  const kept = [...list.children].filter((li): li is HTMLLIElement => li instanceof HTMLLIElement && held.has(li.dataset.id ?? ''))
  const anchor = kept[0]
  const anchorAt = anchor === undefined ? 0 : anchor.offsetTop - log.scrollTop
  for (const [id, li] of chatItems) {
    if (held.has(id)) continue
    li.remove()
    chatItems.delete(id)
  }
  const first = held.get(kept[0]?.dataset.id ?? '')
  const last = held.get(kept.at(-1)?.dataset.id ?? '')
  if (first === undefined || last === undefined || last - first + 1 !== kept.length) {
    list.replaceChildren(...chat.map(chatItem))
  } else {
    list.prepend(...chat.slice(0, first).map(chatItem))
    list.append(...chat.slice(last + 1).map(chatItem))
  }
  if (atEnd || chatToEnd) {
    log.scrollTop = log.scrollHeight
  } else if (anchor?.isConnected === true) {
    // Older messages came in above, or the oldest went: what was being read stays where it was.
    log.scrollTop = anchor.offsetTop - anchorAt
  }
  chatToEnd = false
}

/** The line above the messages: none yet, the start reached, loading, or a button for older ones. */
function renderChatTop (held: number, more: boolean | undefined): void {
  const state = held === 0 && more !== true ? 'none' : more === false ? 'start' : loadingOlder ? 'loading' : 'button'
  if (state === shownTop) return
  shownTop = state
  if (state === 'none') {
    ui.chatTop.textContent = 'No messages yet.'
  } else if (state === 'start') {
    ui.chatTop.textContent = 'The start of the chat.'
  } else if (state === 'loading') {
    ui.chatTop.textContent = 'Loading older messages…'
  } else {
    const button = document.createElement('button')
    button.type = 'button'
    button.textContent = 'Older messages'
    button.onclick = loadOlderChat
    ui.chatTop.replaceChildren(button)
  }
}

function loadOlderChat (): void {
  if (client === undefined || loadingOlder || client.moreChat === false || client.chat.length === 0) return
  loadingOlder = true
  render()
  void client.loadOlderChat().then(() => {
    loadingOlder = false
    render()
  })
}

// Scrolled up to the oldest message held: fetch the page before it.
ui.chatLog.addEventListener('scroll', () => { if (ui.chatLog.scrollTop < 40) loadOlderChat() })

function showChatNote (text: string): void {
  ui.chatNote.textContent = text
  ui.chatNote.hidden = false
}

ui.chatForm.addEventListener('submit', (event) => {
  event.preventDefault()
  if (client === undefined) return
  const text = ui.chatInput.value
  if (text.trim() === '') return
  ui.chatNote.hidden = true
  // Not queued: said after a reconnection it could be out of place. It stays in the box instead.
  if (!client.sendChat(text)) {
    showChatNote('Not sent: you are not connected.')
    return
  }
  ui.chatInput.value = ''
})

window.addEventListener('resize', render)
setInterval(render, IDLE_REFRESH_MS)

const session = storedSession()
if (session !== undefined) enter(session)
else showSignIn()
