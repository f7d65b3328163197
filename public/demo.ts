/**
 * The demo page at /space/:spaceId: sign in as a guest (or bring a token in the URL's #token=),
 * join the space with the Plaza client, draw it, and walk with the arrow keys or WASD.
 */
import { PlazaClient, type StatusChange } from '../client/index.js'
import { Space } from '../src/spaces/space.js'
import { colorOf, draw } from './render.js'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

const spaceId = decodeURIComponent(location.pathname.split('/')[2] ?? '')
const TOKEN_KEY = `plaza.session.${spaceId}`
const MOVE_EVERY_MS = 100

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
  leave: $<HTMLButtonElement>('leave')
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
  for (const event of ['users', 'space-joined', 'move-rejected', 'status'] as const) current.on(event, render)
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

window.addEventListener('keydown', (event) => {
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
    if (space !== undefined) {
      const maxWidth = Math.max(200, Math.min(960, window.innerWidth - 340))
      draw(ui.canvas, { space, users: users.values(), self: self && { ...self, username: username || self.userId } }, maxWidth)
    }
    renderPeople()
  })
}

/** The people list: you first, then everyone else by name; ghosts marked away. */
function renderPeople (): void {
  if (client === undefined) return
  const { self, users } = client
  const rows: HTMLLIElement[] = []
  const row = (userId: string, name: string, x: number, y: number, connected: boolean, isSelf: boolean): HTMLLIElement => {
    const li = document.createElement('li')
    li.dataset.userId = userId
    li.dataset.x = String(x)
    li.dataset.y = String(y)
    li.dataset.connected = String(connected)
    if (isSelf) li.dataset.self = 'true'
    li.className = connected ? 'here' : 'ghost'
    const swatch = document.createElement('span')
    swatch.className = 'swatch'
    swatch.style.background = colorOf(userId)
    const label = document.createElement('span')
    label.className = 'name'
    label.textContent = isSelf ? `${name} (you)` : connected ? name : `${name} (away)`
    const where = document.createElement('span')
    where.className = 'where'
    where.textContent = `${x}, ${y}`
    li.append(swatch, label, where)
    return li
  }
  if (self !== undefined) rows.push(row(self.userId, username || self.userId, self.x, self.y, client.status.status === 'connected', true))
  const others = [...users.values()].sort((a, b) => a.username.localeCompare(b.username))
  for (const u of others) rows.push(row(u.userId, u.username, u.x, u.y, u.connected, false))
  ui.people.replaceChildren(...rows)
  ui.peopleCount.textContent = self === undefined ? '' : `(${others.filter((u) => u.connected).length + 1})`
}

window.addEventListener('resize', render)

const session = storedSession()
if (session !== undefined) enter(session)
else showSignIn()
