import { randomBytes } from 'node:crypto'
import type { ChainableCommander, Redis } from 'ioredis'
import type { ChatMessage } from '../events.js'
import type { RedisKeys } from '../keys.js'
import type { Logger } from '../logger.js'
import { definePlazaScripts, type StreamEntry } from '../scripts/index.js'
import { getOrCreate } from '../util/maps.js'
import type { ChatDraft, ChatLink, ChatPage } from './chat-link.js'

export interface SpaceChatOptions {
  redis: Redis
  keys: RedisKeys
  log: Logger
  serverId: string
  /** CHAT_HISTORY_ON_JOIN: how many of a space's last messages are held for joiners. */
  historyOnJoin: number
  /** CHAT_HISTORY_MAX: about how many entries a space's stream keeps. */
  historyMax: number
  /** CHAT_TTL_S: a stream expires this long after its last message. */
  ttlSeconds: number
  /** Tells the other servers that messages were written back to these spaces' histories. */
  announceRestored?: (spaceIds: string[]) => void
}

/** A space's last messages, held while this server has users there. */
interface Held {
  messages: ChatMessage[]
  ids: Set<string>
  loaded: boolean
  loading: Promise<void> | undefined
  /** What arrived while the history was being read: laid after what the read returns. */
  during: ChatMessage[] | undefined
  /** The newest entry id delivered or read here: what comes on the channel at or before it is not new. */
  lastEntryId: string | undefined
}

/** A message accepted here, and the nonce that tells its own echo from the others'. */
interface Outgoing {
  spaceId: string
  draft: ChatDraft
  nonce: string
}

/** A message delivered here while Redis was away, to be written to the history when it returns. */
interface Unwritten {
  spaceId: string
  message: ChatMessage
  nonce: string
}

/** At most this many messages wait for Redis; older ones are delivered but not kept. */
const MAX_UNWRITTEN = 10_000
/** How long after a write-back a late echo of the same message is still recognised. */
const ECHO_WINDOW_MS = 60_000

/**
 * Chat over Redis (PROTOCOL §9). A message goes into the space's stream and out on its channel in
 * one script, so the stream's order is the order in which every server, the sender's too, delivers
 * it from its subscription. While Redis is away a message is delivered here at once under an id of
 * this server's making, and written back, with that id, when Redis returns.
 */
export class SpaceChat implements ChatLink {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #log: Logger
  readonly #historyOnJoin: number
  readonly #historyMax: number
  readonly #ttlSeconds: number
  readonly #serverJson: string
  readonly #announceRestored: (spaceIds: string[]) => void
  /** Tells this process's offline ids and nonces from every other's. */
  readonly #tag = randomBytes(4).toString('hex')
  #sent = 0
  readonly #held = new Map<string, Held>()
  #outbox: Outgoing[] = []
  #flushScheduled = false
  /** A batch is on its way: the next waits for it, so that batches reach Redis in order. */
  #flushing: Promise<void> | undefined
  #unwritten: Unwritten[] = []
  /** Nonces of messages delivered here without Redis: their echo, should it come after all, is not delivered again. */
  readonly #deliveredHere = new Set<string>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #restoring: Promise<void> | undefined
  #offline = false
  #deliver: (spaceId: string, message: ChatMessage) => void = () => {}

  constructor (options: SpaceChatOptions) {
    this.#redis = definePlazaScripts(options.redis)
    this.#keys = options.keys
    this.#log = options.log
    this.#historyOnJoin = options.historyOnJoin
    this.#historyMax = options.historyMax
    this.#ttlSeconds = options.ttlSeconds
    this.#serverJson = JSON.stringify(options.serverId)
    this.#announceRestored = options.announceRestored ?? (() => {})
  }

  onDeliver (deliver: (spaceId: string, message: ChatMessage) => void): void {
    this.#deliver = deliver
  }

  load (spaceId: string): Promise<void> {
    const held = getOrCreate(this.#held, spaceId, (): Held => ({ messages: [], ids: new Set(), loaded: false, loading: undefined, during: undefined, lastEntryId: undefined }))
    if (held.loaded || this.#historyOnJoin === 0) return Promise.resolve()
    held.loading ??= this.#read(spaceId, held).finally(() => { held.loading = undefined })
    return held.loading
  }

  /**
   * Reads the newest messages and lays what arrived meanwhile (newer, or the same) after them. What
   * was held before is replaced: the history is the truth (written back to, or lost with a Redis
   * that restarted empty).
   */
  async #read (spaceId: string, held: Held): Promise<void> {
    let entries: StreamEntry[]
    held.during = []
    try {
      entries = await this.#redis.xrevrange(this.#keys.spaceChat(spaceId), '+', '-', 'COUNT', this.#historyOnJoin) as StreamEntry[]
    } catch (err) {
      // The joiner gets what is held; the next join tries again.
      this.#log.debug({ err, spaceId }, `Could not read the chat history of space ${spaceId}`)
      held.during = undefined
      return
    }
    const during = held.during
    held.during = undefined
    if (this.#held.get(spaceId) !== held) return
    const read = entries.reverse().map(decodeEntry)
    const newest = entries.at(-1)?.[0]
    if (newest !== undefined && isAfter(newest, held.lastEntryId)) held.lastEntryId = newest
    const ids = new Set(read.map((m) => m.id))
    held.messages = [...read, ...during.filter((m) => !ids.has(m.id))]
    held.ids = new Set(held.messages.map((m) => m.id))
    held.loaded = true
    this.#trim(held)
  }

  recent (spaceId: string): ChatMessage[] {
    return this.#held.get(spaceId)?.messages.slice() ?? []
  }

  send (spaceId: string, draft: ChatDraft): void {
    this.#outbox.push({ spaceId, draft, nonce: `${this.#tag}.${(++this.#sent).toString(36)}` })
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    // A turn later: what the sender's activity told other servers (on the same connection) goes first.
    setImmediate(() => { void this.#flush() })
  }

  /** Sends what waits, batch after batch, one at a time. */
  #flush (): Promise<void> {
    this.#flushScheduled = false
    this.#flushing ??= (async () => {
      while (this.#outbox.length > 0) {
        const batch = this.#outbox
        this.#outbox = []
        await this.#send(batch)
      }
    })().finally(() => { this.#flushing = undefined })
    return this.#flushing
  }

  async #send (batch: Outgoing[]): Promise<void> {
    if (this.#redis.status !== 'ready') {
      for (const out of batch) this.#deliverHere(out)
      return
    }
    // Written back first, so that the history keeps this server's order.
    if (this.#unwritten.length > 0) await this.restore()
    const bySpace = new Map<string, Outgoing[]>()
    for (const out of batch) getOrCreate(bySpace, out.spaceId, (): Outgoing[] => []).push(out)
    const pipeline = this.#redis.pipeline()
    for (const [spaceId, messages] of bySpace) this.#append(pipeline, spaceId, messages)
    let replies: Array<[Error | null, unknown]> | null = null
    try {
      replies = await pipeline.exec()
    } catch {
      // Nothing is known to have reached Redis: every message of the batch is delivered here.
    }
    let i = 0
    let failed = false
    for (const messages of bySpace.values()) {
      const ok = replies?.[i++]?.[0] === null
      if (!ok) {
        failed = true
        for (const out of messages) this.#deliverHere(out)
      }
    }
    if (!failed && this.#offline) {
      this.#offline = false
      this.#log.info({}, 'Chat reaches Redis again')
    }
  }

  #append (pipeline: ChainableCommander, spaceId: string, messages: Outgoing[]): void {
    const args: Array<string | number> = [this.#keys.spaceChannel(spaceId), this.#historyMax, this.#ttlSeconds, this.#serverJson]
    for (const { draft, nonce } of messages) {
      const { userId, username, text, sentAt } = draft
      // The payload's JSON less its opening brace: the script puts the id it gets in front.
      args.push(userId, username, text, sentAt, nonce, JSON.stringify({ userId, username, text, sentAt }).slice(1))
    }
    pipeline.plazaChatAppend(this.#keys.spaceChat(spaceId), ...args)
  }

  /** Redis did not take the message: this server's users get it now, the history when Redis returns. */
  #deliverHere ({ spaceId, draft, nonce }: Outgoing): void {
    if (!this.#offline) {
      this.#offline = true
      this.#log.warn({}, 'Chat messages do not reach Redis: they are delivered to this server\'s users and written to the history when Redis returns')
    }
    // Unique in the space whatever the clock: the counter is this process's, the tag tells processes apart.
    const message: ChatMessage = { id: `${draft.sentAt}-${(++this.#sent).toString(36)}-${this.#tag}`, ...draft }
    this.#deliveredHere.add(nonce)
    if (this.#unwritten.length >= MAX_UNWRITTEN) {
      const dropped = this.#unwritten.shift()
      if (dropped !== undefined) this.#deliveredHere.delete(dropped.nonce)
      this.#log.warn({ spaceId }, 'Too many chat messages wait for Redis: the oldest will not be in the history')
    }
    this.#unwritten.push({ spaceId, message, nonce })
    this.#hold(spaceId, message)
    this.#deliver(spaceId, message)
  }

  /** A message from a space's channel (this server's own too), its id the entry's. */
  received (spaceId: string, message: ChatMessage, nonce: string): void {
    const held = this.#held.get(spaceId)
    if (held !== undefined) {
      // Read with the history already, or caught up after a reconnect: not new.
      if (!isAfter(message.id, held.lastEntryId)) return
      held.lastEntryId = message.id
    }
    if (this.#deliveredHere.has(nonce)) return
    this.#hold(spaceId, message)
    this.#deliver(spaceId, message)
  }

  /**
   * The channel was lost for a while (its connection dropped): what the stream got meanwhile is
   * delivered now, in its order, so that no user here misses a message.
   */
  async catchUp (spaceIds: string[]): Promise<void> {
    for (const spaceId of spaceIds) {
      const from = this.#held.get(spaceId)?.lastEntryId
      if (from === undefined) continue
      let entries: StreamEntry[]
      try {
        entries = await this.#redis.xrange(this.#keys.spaceChat(spaceId), `(${from}`, '+', 'COUNT', this.#historyMax) as StreamEntry[]
      } catch {
        continue
      }
      for (const entry of entries) this.received(spaceId, decodeEntry(entry), fieldOf(entry, 'k') ?? '')
    }
  }

  /** Writes back what was delivered while Redis was away, in order; what fails waits for the next try. */
  restore (): Promise<void> {
    this.#restoring ??= this.#writeBack().finally(() => { this.#restoring = undefined })
    return this.#restoring
  }

  async #writeBack (): Promise<void> {
    const batch = this.#unwritten
    if (batch.length === 0) return
    this.#unwritten = []
    const bySpace = new Map<string, Unwritten[]>()
    for (const u of batch) getOrCreate(bySpace, u.spaceId, (): Unwritten[] => []).push(u)
    const pipeline = this.#redis.pipeline()
    for (const [spaceId, messages] of bySpace) {
      const args: Array<string | number> = [this.#historyMax, this.#ttlSeconds]
      for (const { message, nonce } of messages) args.push(message.id, message.userId, message.username, message.text, message.sentAt, nonce)
      pipeline.plazaChatRestore(this.#keys.spaceChat(spaceId), this.#keys.spaceChatIds(spaceId), ...args)
    }
    let replies: Array<[Error | null, unknown]> | null = null
    try {
      replies = await pipeline.exec()
    } catch {}
    const left: Unwritten[] = []
    const restored: string[] = []
    let i = 0
    let written = 0
    for (const [spaceId, messages] of bySpace) {
      if (replies?.[i++]?.[0] === null) {
        written += messages.length
        restored.push(spaceId)
        this.#forgetEchoes(messages.map((m) => m.nonce))
      } else {
        left.push(...messages)
      }
    }
    if (restored.length > 0) this.#announceRestored(restored)
    // Kept in order ahead of anything that went offline meanwhile.
    this.#unwritten = [...left, ...this.#unwritten]
    if (written > 0) this.#log.info({ count: written }, `Wrote ${written} chat messages accepted while Redis was away to the history`)
  }

  #forgetEchoes (nonces: string[]): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      for (const nonce of nonces) this.#deliveredHere.delete(nonce)
    }, ECHO_WINDOW_MS).unref()
    this.#timers.add(timer)
  }

  async page (spaceId: string, before: string | undefined, limit: number): Promise<ChatPage | undefined> {
    let entries: StreamEntry[] | null
    try {
      entries = await this.#redis.plazaChatPage(this.#keys.spaceChat(spaceId), this.#keys.spaceChatIds(spaceId), before ?? '', limit + 1)
    } catch (err) {
      this.#log.debug({ err, spaceId }, `Could not read the chat history of space ${spaceId}; answering from memory`)
      return this.#pageHeld(spaceId, before, limit)
    }
    if (entries === null) return undefined
    return { messages: entries.slice(0, limit).reverse().map(decodeEntry), more: entries.length > limit }
  }

  /**
   * Redis away: the page is what this server holds. Older messages may exist beyond it when it holds
   * as many as it keeps; a `before` it does not hold cannot be told from an unknown one.
   */
  #pageHeld (spaceId: string, before: string | undefined, limit: number): ChatPage | undefined {
    const messages = this.#held.get(spaceId)?.messages ?? []
    const end = before === undefined ? messages.length : messages.findIndex((m) => m.id === before)
    if (end < 0) return undefined
    const full = messages.length >= this.#historyOnJoin
    return { messages: messages.slice(Math.max(0, end - limit), end), more: end > limit || full }
  }

  /** The last `limit` messages of a space, oldest first, from Redis (for the admin API; rejects when Redis does not answer). */
  async history (spaceId: string, limit: number): Promise<ChatMessage[]> {
    const entries = await this.#redis.xrevrange(this.#keys.spaceChat(spaceId), '+', '-', 'COUNT', limit) as StreamEntry[]
    return entries.reverse().map(decodeEntry)
  }

  /** Deletes a space's history for everyone (the other servers are told by the caller: `cleared`). */
  async clear (spaceId: string): Promise<void> {
    await this.#redis.del(this.#keys.spaceChat(spaceId), this.#keys.spaceChatIds(spaceId))
    this.cleared(spaceId)
  }

  /** A space's history was deleted: nothing of it is held or written back from here. */
  cleared (spaceId: string): void {
    const held = this.#held.get(spaceId)
    if (held !== undefined) {
      held.messages = []
      held.ids.clear()
    }
    for (const u of this.#unwritten) if (u.spaceId === spaceId) this.#deliveredHere.delete(u.nonce)
    this.#unwritten = this.#unwritten.filter((u) => u.spaceId !== spaceId)
  }

  /**
   * Redis is back (perhaps empty, perhaps written back to by others meanwhile): what this server
   * holds is read again at the next join of each space, and what it delivered alone is written back.
   */
  redisReturned (): Promise<void> {
    for (const held of this.#held.values()) held.loaded = false
    return this.restore()
  }

  /** Messages were written back to these spaces' histories elsewhere: the next join here reads them again. */
  restoredElsewhere (spaceIds: string[]): void {
    for (const spaceId of spaceIds) {
      const held = this.#held.get(spaceId)
      if (held !== undefined) held.loaded = false
    }
  }

  forget (spaceId: string): void {
    this.#held.delete(spaceId)
  }

  /** Sends what is queued and writes back what waited, if Redis lets it. */
  async close (): Promise<void> {
    await this.#flush()
    if (this.#redis.status === 'ready') await this.restore()
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
  }

  #hold (spaceId: string, message: ChatMessage): void {
    const held = this.#held.get(spaceId)
    if (held === undefined || this.#historyOnJoin === 0) return
    held.messages.push(message)
    held.ids.add(message.id)
    held.during?.push(message)
    this.#trim(held)
  }

  #trim (held: Held): void {
    const extra = held.messages.length - this.#historyOnJoin
    if (extra <= 0) return
    for (const m of held.messages.splice(0, extra)) held.ids.delete(m.id)
  }
}

/** One field of a stream entry. */
function fieldOf ([, fields]: StreamEntry, name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

/** Whether `id` is a stream entry id later than `than` (an id of a server's making never is). */
function isAfter (id: string, than: string | undefined): boolean {
  const match = /^(\d+)-(\d+)$/.exec(id)
  if (match === null) return false
  if (than === undefined) return true
  const [ms, seq] = than.split('-').map(Number) as [number, number]
  const [idMs, idSeq] = [Number(match[1]), Number(match[2])]
  return idMs > ms || (idMs === ms && idSeq > seq)
}

/** A stream entry as the message it holds; its id is the entry's unless written back with its own. */
function decodeEntry ([entryId, fields]: StreamEntry): ChatMessage {
  const f: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string
  return { id: f.i ?? entryId, userId: f.u ?? '', username: f.n ?? f.u ?? '', text: f.t ?? '', sentAt: Number(f.s ?? 0) }
}
