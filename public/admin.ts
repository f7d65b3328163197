/**
 * The operator's page at /admin: asks for the admin token (kept in this tab's sessionStorage only),
 * then lists the spaces with their users across servers and, for the space selected, who is in it
 * and its last 30 days (PROTOCOL §7, §11). Polls while the tab is visible, well within the admin
 * routes' rate limit (ADMIN_RATE_LIMIT_PER_MIN, 120 a minute by default): the selected space's users
 * every 5 s, the counts every 15 s, the space list and the space's days every 30 s. Every text that
 * comes from the server goes in as textContent.
 */

const TOKEN_KEY = 'plaza.admin-token'
const POLL_MS = 5000
/** The counts (`/admin/stats`, which reads every space) are read every this many polls. */
const COUNTS_EVERY = 3
/** The space list and a space's days change slowly: read them every this many polls. */
const SLOW_EVERY = 6
/** No poll starts sooner than this after the last one, and no space is read again sooner (ms). */
const MIN_GAP_MS = 2000
const DAYS = 30
const SVG = 'http://www.w3.org/2000/svg'
const REFUSED = 'The server refused this token (401 Unauthorized). Enter the admin token again.'

interface SpaceDefinition { id: string, width: number, height: number }
interface SpaceCount { spaceId: string, userCount: number, ghostCount: number }
interface Stats { cluster: { spacesWithUsers: SpaceCount[] } | null }
interface SpaceUser { userId: string, username: string, x: number, y: number, connected: boolean, lastActive: number, idle: boolean }
interface Day { date: string, visits: number, uniqueUsers: number, peakUsers: number, sessions: number, avgSessionMs: number | null, chatMessages: number }
interface Analytics { spaceId: string, days: Day[] }

/** The server refused the token. */
class Unauthorized extends Error {}
class HttpError extends Error {
  constructor (readonly status: number, message: string) {
    super(message)
  }
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

const ui = {
  status: $('status'),
  signOut: $<HTMLButtonElement>('sign-out'),
  form: $<HTMLFormElement>('token-form'),
  token: $<HTMLInputElement>('token'),
  tokenError: $('token-error'),
  console: $('console'),
  spaces: $<HTMLUListElement>('spaces'),
  spacesTotal: $('spaces-total'),
  spacesEmpty: $('spaces-empty'),
  spacePanel: $('space-panel'),
  spaceTitle: $('space-title'),
  users: $<HTMLTableElement>('users'),
  usersCount: $('users-count'),
  usersEmpty: $('users-empty'),
  analyticsNote: $('analytics-note'),
  analytics: $('analytics'),
  sessionAverage: $('session-average'),
  chart: $('chart'),
  days: $<HTMLTableElement>('days')
}

let spaces: SpaceDefinition[] = []
let counts = new Map<string, SpaceCount>()
let selected: string | undefined = selectedInAddress()
let polls = 0
let timer: ReturnType<typeof setTimeout> | undefined
let reading = false
/** When the last poll started (ms since epoch). */
let lastPollAt = 0
/** The space last read, and when: a click on it again soon after waits (ms since epoch). */
let lastSpaceRead = { spaceId: '', at: 0 }
let spaceTimer: ReturnType<typeof setTimeout> | undefined

/** The space named in the address's fragment; none when the fragment is not valid percent-encoding. */
function selectedInAddress (): string | undefined {
  try {
    return decodeURIComponent(location.hash.slice(1)) || undefined
  } catch {
    return undefined
  }
}

/** One admin request with this tab's token: the parsed JSON, or Unauthorized, or HttpError. */
async function api<T> (path: string): Promise<T> {
  const response = await fetch(path, {
    headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ''}`, accept: 'application/json' },
    cache: 'no-store'
  })
  if (response.status === 401) throw new Unauthorized('Unauthorized')
  if (!response.ok) {
    const body = await response.json().catch(() => ({})) as { message?: unknown }
    throw new HttpError(response.status, `${response.status} ${typeof body.message === 'string' ? body.message : response.statusText}`)
  }
  return await response.json() as T
}

const path = (spaceId: string, rest: string): string => `/admin/spaces/${encodeURIComponent(spaceId)}${rest}`

function element<K extends keyof HTMLElementTagNameMap> (tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  if (text !== undefined) e.textContent = text
  if (className !== undefined) e.className = className
  return e
}

function svg<K extends keyof SVGElementTagNameMap> (tag: K, attributes: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag)
  for (const [name, value] of Object.entries(attributes)) e.setAttribute(name, String(value))
  if (text !== undefined) e.textContent = text
  return e
}

function row (cells: string[]): HTMLTableRowElement {
  const tr = element('tr')
  for (const text of cells) tr.append(element('td', text))
  return tr
}

/** 45 s, 4 min 12 s, 1 h 3 min. */
function duration (ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 === 0 ? '' : ` ${s % 60} s`}`
  return `${Math.floor(s / 3600)} h${Math.floor(s / 60) % 60 === 0 ? '' : ` ${Math.floor(s / 60) % 60} min`}`
}

function setStatus (text: string, error = false): void {
  ui.status.textContent = text
  ui.status.classList.toggle('error', error)
}

// --- The token ---

function askForToken (message = ''): void {
  stopPolling()
  clearTimeout(spaceTimer)
  sessionStorage.removeItem(TOKEN_KEY)
  ui.console.hidden = true
  ui.signOut.hidden = true
  ui.form.hidden = false
  ui.tokenError.textContent = message
  setStatus('')
  ui.token.value = ''
  ui.token.focus()
}

function open (): void {
  ui.form.hidden = true
  ui.console.hidden = false
  ui.signOut.hidden = false
  ui.tokenError.textContent = ''
  polls = 0
  if (selected !== undefined) showSpace(selected)
  void poll()
}

ui.form.addEventListener('submit', (event) => {
  event.preventDefault()
  const token = ui.token.value.trim()
  if (token === '') return
  sessionStorage.setItem(TOKEN_KEY, token)
  open()
})
ui.signOut.addEventListener('click', () => askForToken())

// --- Polling ---

function stopPolling (): void {
  clearTimeout(timer)
  timer = undefined
}

function schedule (delay = POLL_MS): void {
  stopPolling()
  if (document.visibilityState === 'visible' && !ui.console.hidden) timer = setTimeout(() => { void poll() }, delay)
}

/**
 * Reads what the page shows: the selected space's users each time, the counts every COUNTS_EVERY
 * polls, the rest every SLOW_EVERY. A poll asked for within MIN_GAP_MS of the last one (a tab shown
 * again at once) waits until that much time has passed.
 */
async function poll (): Promise<void> {
  if (reading) return
  const wait = lastPollAt + MIN_GAP_MS - Date.now()
  if (wait > 0) {
    schedule(wait)
    return
  }
  reading = true
  lastPollAt = Date.now()
  const slow = polls % SLOW_EVERY === 0
  const withCounts = polls % COUNTS_EVERY === 0
  polls++
  try {
    const reads: Array<Promise<unknown>> = []
    if (withCounts) reads.push(readCounts())
    if (slow) reads.push(readSpaces())
    if (selected !== undefined && !readLately(selected)) reads.push(readSpace(selected, slow))
    const failed = (await Promise.allSettled(reads)).flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
    if (failed.some((err) => err instanceof Unauthorized)) {
      askForToken(REFUSED)
      return
    }
    renderSpaces()
    if (failed.length > 0) setStatus(`Could not read everything: ${failed.map((err) => (err as Error).message).join('; ')}`, true)
    else setStatus(`Updated ${new Date().toLocaleTimeString()}`)
  } finally {
    reading = false
  }
  schedule()
}

document.addEventListener('visibilitychange', () => {
  if (ui.console.hidden) return
  if (document.visibilityState === 'visible') void poll()
  else stopPolling()
})

// --- Spaces ---

async function readSpaces (): Promise<void> {
  spaces = (await api<{ spaces: SpaceDefinition[] }>('/admin/spaces')).spaces
}

async function readCounts (): Promise<void> {
  const { cluster } = await api<Stats>('/admin/stats')
  // null: Redis did not answer; the last counts stand.
  if (cluster !== null) counts = new Map(cluster.spacesWithUsers.map((c) => [c.spaceId, c]))
}

function renderSpaces (): void {
  ui.spacesTotal.textContent = `(${spaces.length})`
  ui.spacesEmpty.hidden = spaces.length > 0
  const items = spaces.map((space) => {
    const count = counts.get(space.id)
    const users = count?.userCount ?? 0
    const ghosts = count?.ghostCount ?? 0
    const button = element('button')
    button.type = 'button'
    button.dataset.spaceId = space.id
    button.setAttribute('aria-pressed', String(space.id === selected))
    button.append(
      element('span', space.id, 'name'),
      element('span', `${space.width}×${space.height}`, 'size'),
      element('span', `${users - ghosts} connected${ghosts > 0 ? `, ${ghosts} ghost${ghosts === 1 ? '' : 's'}` : ''}`, 'count')
    )
    button.addEventListener('click', () => select(space.id))
    const li = element('li')
    li.append(button)
    return li
  })
  // Rebuilt at each poll: keep the keyboard's place.
  const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.spaceId : undefined
  ui.spaces.replaceChildren(...items)
  if (focused !== undefined) ui.spaces.querySelector<HTMLButtonElement>(`button[data-space-id="${CSS.escape(focused)}"]`)?.focus()
}

/** Shows the space's panel, emptied until its figures arrive. */
function showSpace (spaceId: string): void {
  ui.spaceTitle.textContent = spaceId
  ui.users.tBodies[0]?.replaceChildren()
  ui.usersCount.textContent = ''
  ui.usersEmpty.hidden = true
  ui.analytics.hidden = true
  ui.analyticsNote.hidden = true
  ui.spacePanel.hidden = false
}

function select (spaceId: string): void {
  // Shown and read already: a second click asks nothing more of the server.
  if (spaceId === selected && !ui.spacePanel.hidden) return
  selected = spaceId
  history.replaceState(null, '', `#${encodeURIComponent(spaceId)}`)
  showSpace(spaceId)
  renderSpaces()
  clearTimeout(spaceTimer)
  // Back to the space read a moment ago: read it again once MIN_GAP_MS has passed.
  const wait = readLately(spaceId) ? lastSpaceRead.at + MIN_GAP_MS - Date.now() : 0
  spaceTimer = setTimeout(() => {
    if (spaceId !== selected) return
    readSpace(spaceId, true).catch((err: unknown) => {
      if (err instanceof Unauthorized) askForToken(REFUSED)
      else setStatus(`Could not read space ${spaceId}: ${(err as Error).message}`, true)
    })
  }, Math.max(0, wait))
}

// --- One space ---

/** Whether `spaceId` was read within the last MIN_GAP_MS. */
function readLately (spaceId: string): boolean {
  return lastSpaceRead.spaceId === spaceId && Date.now() - lastSpaceRead.at < MIN_GAP_MS
}

/** The space's users, and with `withDays` its analytics; an answer for a space no longer selected is dropped. */
async function readSpace (spaceId: string, withDays: boolean): Promise<void> {
  lastSpaceRead = { spaceId, at: Date.now() }
  const days = withDays ? readDays(spaceId) : Promise.resolve()
  try {
    const { users } = await api<{ users: SpaceUser[] }>(path(spaceId, '/users'))
    if (spaceId === selected) renderUsers(users)
  } catch (err) {
    if (!(err instanceof HttpError && err.status === 404)) throw err
    if (spaceId === selected) {
      ui.usersCount.textContent = ''
      ui.users.tBodies[0]?.replaceChildren()
      ui.usersEmpty.hidden = false
      ui.usersEmpty.textContent = `There is no space ${spaceId}.`
    }
  } finally {
    await days
  }
}

function renderUsers (users: SpaceUser[]): void {
  const now = Date.now()
  const ghosts = users.filter((u) => !u.connected).length
  ui.usersCount.textContent = `(${users.length - ghosts} connected${ghosts > 0 ? `, ${ghosts} ghost${ghosts === 1 ? '' : 's'}` : ''})`
  ui.usersEmpty.hidden = users.length > 0
  ui.usersEmpty.textContent = 'Nobody is in this space.'
  ui.users.tBodies[0]?.replaceChildren(...users.map((u) => {
    const state = !u.connected ? 'ghost (dropped, may resume)' : u.idle ? 'connected, idle' : 'connected'
    const active = `${duration(Math.max(0, now - u.lastActive))} ago`
    const tr = row([u.username, u.userId, `(${u.x}, ${u.y})`, state, active])
    tr.dataset.userId = u.userId
    tr.dataset.connected = String(u.connected)
    if (!u.connected) tr.classList.add('ghost')
    if (u.idle) tr.classList.add('idle')
    return tr
  }))
}

/** The space's last DAYS days, or a note saying why they are not shown. Never rejects but for a refused token. */
async function readDays (spaceId: string): Promise<void> {
  let analytics: Analytics
  try {
    analytics = await api<Analytics>(path(spaceId, `/analytics?days=${DAYS}`))
  } catch (err) {
    if (err instanceof Unauthorized) throw err
    if (spaceId !== selected) return
    ui.analytics.hidden = true
    ui.analyticsNote.hidden = false
    ui.analyticsNote.textContent = `Analytics unavailable (${(err as Error).message}).`
    return
  }
  if (spaceId !== selected) return
  ui.analyticsNote.hidden = true
  ui.analytics.hidden = false
  renderDays([...analytics.days].reverse())
}

/** `days` oldest first: a chart of peak users and visits as bars, average session as a line, and the table. */
function renderDays (days: Day[]): void {
  const sessions = days.reduce((n, d) => n + d.sessions, 0)
  const sessionMs = days.reduce((n, d) => n + (d.avgSessionMs ?? 0) * d.sessions, 0)
  ui.sessionAverage.textContent = sessions === 0
    ? `No session ended in the last ${days.length} days.`
    : `Average session over ${days.length} days: ${duration(sessionMs / sessions)} (${sessions} sessions).`
  ui.chart.replaceChildren(chart(days))
  ui.days.tBodies[0]?.replaceChildren(...[...days].reverse().map((d) =>
    row([d.date, String(d.peakUsers), String(d.visits), String(d.uniqueUsers), String(d.sessions), d.avgSessionMs === null ? '–' : duration(d.avgSessionMs), String(d.chatMessages)])))
}

function chart (days: Day[]): SVGSVGElement {
  const width = 760
  const height = 240
  const left = 40
  const right = 56
  const top = 12
  const bottom = 28
  const plotW = width - left - right
  const plotH = height - top - bottom
  const slot = plotW / Math.max(1, days.length)
  const maxCount = Math.max(1, ...days.map((d) => Math.max(d.peakUsers, d.visits)))
  const maxSession = Math.max(0, ...days.map((d) => d.avgSessionMs ?? 0))
  const yCount = (v: number): number => top + plotH - (v / maxCount) * plotH
  const ySession = (ms: number): number => top + plotH - (maxSession === 0 ? 0 : (ms / maxSession) * plotH)

  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart' })
  root.append(svg('title', {}, `Peak users and visits per day, and the average session, over the last ${days.length} days (figures in the table below)`))
  // Axes: counts on the left, session length on the right.
  for (const v of [0, maxCount / 2, maxCount]) {
    root.append(svg('line', { x1: left, x2: left + plotW, y1: yCount(v), y2: yCount(v), class: 'grid' }))
    root.append(svg('text', { x: left - 6, y: yCount(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(Math.round(v * 10) / 10)))
  }
  if (maxSession > 0) root.append(svg('text', { x: left + plotW + 6, y: top + 4, class: 'axis session' }, duration(maxSession)))

  const labelEvery = Math.max(1, Math.ceil(days.length / 8))
  days.forEach((d, i) => {
    const x = left + i * slot
    const g = svg('g', { class: 'day', 'data-date': d.date })
    g.append(svg('title', {}, `${d.date}: peak ${d.peakUsers} users, ${d.visits} visits, average session ${d.avgSessionMs === null ? 'none' : duration(d.avgSessionMs)}`))
    const bar = slot * 0.36
    g.append(svg('rect', { class: 'peak', x: x + slot * 0.12, y: yCount(d.peakUsers), width: bar, height: top + plotH - yCount(d.peakUsers) }))
    g.append(svg('rect', { class: 'visits', x: x + slot * 0.52, y: yCount(d.visits), width: bar, height: top + plotH - yCount(d.visits) }))
    // A mark under every day, a date under some.
    g.append(svg('line', { class: 'tick', x1: x + slot / 2, x2: x + slot / 2, y1: top + plotH, y2: top + plotH + 4 }))
    if ((days.length - 1 - i) % labelEvery === 0) g.append(svg('text', { class: 'axis', x: x + slot / 2, y: height - 8, 'text-anchor': 'middle' }, d.date.slice(5)))
    root.append(g)
  })

  // The average session as a line, broken where a day had no session.
  let points: string[] = []
  const flush = (): void => {
    if (points.length > 1) root.append(svg('polyline', { class: 'session', points: points.join(' ') }))
    points = []
  }
  days.forEach((d, i) => {
    if (d.avgSessionMs === null) {
      flush()
      return
    }
    const x = left + i * slot + slot / 2
    points.push(`${x},${ySession(d.avgSessionMs)}`)
    root.append(svg('circle', { class: 'session', cx: x, cy: ySession(d.avgSessionMs), r: 2.5 }))
  })
  flush()
  return root
}

// --- Start ---

if (sessionStorage.getItem(TOKEN_KEY) === null) askForToken()
else open()
