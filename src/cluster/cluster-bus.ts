import type { Redis } from 'ioredis'
import type { ActiveUser, ChatMessage, RoomEvent } from '../events.js'
import type { RedisKeys } from '../keys.js'
import type { ClusterLink } from './cluster-link.js'
import type { Logger } from '../logger.js'
import { getOrCreate } from '../util/maps.js'

/** What servers tell each other about a space, on its channel. */
export type BusEvent =
  | RoomEvent
  /** The user's avatar now belongs to server `by` (a second connection there), under `username`. */
  | { kind: 'takeover', userId: string, by: string, username?: string }
  /** A server subscribed to the space: the others answer with their roster. */
  | { kind: 'hello' }
  /** The sender's connected users in the space, positions and activity current. */
  | { kind: 'roster', users: ActiveUser[] }
  /** The user was active without a move or a chat (an `active` message), for joiners' snapshots elsewhere. */
  | { kind: 'active', userId: string, lastActive: number }
  /** The sender has no users left in the space and unsubscribed. */
  | { kind: 'bye' }

/** How long a first join in a space waits for the other servers' rosters. */
const ROSTER_WAIT_MS = 250

/** What servers tell each other about the deployment, on the control channel. */
export type ControlEvent =
  | { kind: 'space-changed', spaceId: string }
  | { kind: 'space-deleted', spaceId: string }
  /** A space's chat history was deleted: what servers hold of it goes too. */
  | { kind: 'chat-cleared', spaceId: string }
  /** Messages accepted while Redis was away were written back to these spaces' histories. */
  | { kind: 'chat-restored', spaceIds: string[] }
  /** Several definitions changed at once (SPACES_FILE, or written back after an outage): read them all. */
  | { kind: 'spaces-changed' }

export interface BusHandler {
  onSpaceEvents: (spaceId: string, from: string, events: BusEvent[]) => void
  /** A chat message, from any server this one included, in the order of the space's history. */
  onChat: (spaceId: string, message: ChatMessage, nonce: string) => void
  /** The subscriptions were made again after the subscriber's connection was lost: what was said meanwhile was not heard. */
  onResubscribed?: (spaceIds: string[]) => void
  onControl: (from: string, event: ControlEvent) => void
}

interface SpaceMessage { s: string, e: BusEvent[] }
/** What chat-append.lua publishes: the sender's nonce and the message. */
interface ChatEnvelope { s: string, k: string, m: ChatMessage }
interface ControlMessage { s: string, c: ControlEvent }

export interface ClusterBusOptions {
  publisher: Redis
  subscriber: Redis
  keys: RedisKeys
  serverId: string
  log: Logger
  /** How long a join waits for a subscription (the subscriber connection has no command timeout). */
  subscribeWaitMs: number
}

/**
 * Redis Pub/Sub between Plaza servers: a channel per space, subscribed only while this server has
 * users there, and a control channel everyone listens to. Events of one turn of the event loop go
 * out as one PUBLISH per space, in the order they happened; one publisher connection keeps them in
 * that order. Moves are only published where another server is known to listen, so a lone server
 * publishes nothing on the path of a move. A server ignores its own messages.
 */
export class ClusterBus implements ClusterLink {
  readonly #publisher: Redis
  readonly #subscriber: Redis
  readonly #keys: RedisKeys
  readonly #serverId: string
  readonly #log: Logger
  readonly #subscribeWaitMs: number
  #handler: BusHandler | undefined
  /** Spaces subscribed (or being subscribed), with the promise of the subscription. */
  readonly #subscribed = new Map<string, Promise<void>>()
  /** Other servers known to have users in each subscribed space. */
  readonly #listeners = new Map<string, Set<string>>()
  /** First subscriptions waiting for the other servers' rosters. */
  readonly #awaitingRosters = new Map<string, { left: number, done: () => void }>()
  /** Channels to subscribe to in the next SUBSCRIBE, and its promise. */
  #toSubscribe: string[] = []
  #subscribing: Promise<unknown> | undefined
  #outbox = new Map<string, BusEvent[]>()
  #flushScheduled = false
  #failing = false

  constructor (options: ClusterBusOptions) {
    this.#publisher = options.publisher
    this.#subscriber = options.subscriber
    this.#keys = options.keys
    this.#serverId = options.serverId
    this.#log = options.log
    this.#subscribeWaitMs = options.subscribeWaitMs
    this.#subscriber.on('message', (channel: string, message: string) => this.#onMessage(channel, message))
    // ioredis resubscribes after a reconnect only to what had succeeded: say it again, all of it.
    this.#subscriber.on('ready', () => { void this.#resubscribe() })
  }

  setHandler (handler: BusHandler): void {
    this.#handler = handler
  }

  async start (): Promise<void> {
    await this.#subscribe(this.#keys.controlChannel).catch(() => { /* retried on 'ready' */ })
  }

  /**
   * Subscribes to a space's channel (once) and says hello; resolves when every server there has
   * answered with its roster (or ROSTER_WAIT_MS passed, or Redis is away), so that the first join
   * here sees other servers' users where they stand now.
   */
  enter (spaceId: string): Promise<void> {
    let subscribed = this.#subscribed.get(spaceId)
    if (subscribed === undefined) {
      this.#listeners.set(spaceId, new Set())
      subscribed = this.#subscribe(this.#keys.spaceChannel(spaceId))
        .then(() => this.#hello(spaceId))
        .catch((err: unknown) => this.#log.warn({ err, spaceId }, `Could not subscribe to space ${spaceId}; other servers' events are missed until Redis is back`))
      this.#subscribed.set(spaceId, subscribed)
    }
    return subscribed
  }

  async #hello (spaceId: string): Promise<void> {
    const message: SpaceMessage = { s: this.#serverId, e: [{ kind: 'hello' }] }
    // PUBLISH answers how many subscribers got it: this server, and each other that will answer.
    const receivers = await this.#publisher.publish(this.#keys.spaceChannel(spaceId), JSON.stringify(message))
    if (receivers <= 1) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ROSTER_WAIT_MS)
      const waiting = { left: receivers - 1, done }
      this.#awaitingRosters.set(spaceId, waiting)
      function done (): void {
        clearTimeout(timer)
        resolve()
      }
    })
    this.#awaitingRosters.delete(spaceId)
  }

  /** Unsubscribes from a space this server no longer has users in, saying goodbye. */
  exit (spaceId: string): void {
    if (!this.#subscribed.delete(spaceId)) return
    this.#listeners.delete(spaceId)
    this.publish(spaceId, { kind: 'bye' })
    this.#subscriber.unsubscribe(this.#keys.spaceChannel(spaceId)).catch(() => { /* gone with the connection anyway */ })
  }

  /**
   * Queues an event for the space's channel. A user's events (joined, moved, dropped, left) go out
   * only where another server is known to listen (a server that subscribes says hello and gets
   * rosters, so it misses nothing); `always` is for servers that speak for others (a sweep, a dead
   * server) without being in the space.
   */
  publish (spaceId: string, event: BusEvent, always = false): void {
    const own = event.kind === 'joined' || event.kind === 'moved' || event.kind === 'dropped' || event.kind === 'left' ||
      event.kind === 'idle' || event.kind === 'active'
    if (own && !always && (this.#listeners.get(spaceId)?.size ?? 0) === 0) return
    getOrCreate(this.#outbox, spaceId, (): BusEvent[] => []).push(event)
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(() => { void this.flush() })
    }
  }

  publishControl (event: ControlEvent): Promise<unknown> {
    const message: ControlMessage = { s: this.#serverId, c: event }
    return this.#publisher.publish(this.#keys.controlChannel, JSON.stringify(message))
  }

  /** Forgets a server (it said bye, or died). */
  forgetServer (serverId: string): void {
    for (const listeners of this.#listeners.values()) listeners.delete(serverId)
  }

  async flush (): Promise<void> {
    this.#flushScheduled = false
    if (this.#outbox.size === 0) return
    const outbox = this.#outbox
    this.#outbox = new Map()
    if (this.#publisher.status !== 'ready') return
    const pipeline = this.#publisher.pipeline()
    for (const [spaceId, events] of outbox) {
      const message: SpaceMessage = { s: this.#serverId, e: events }
      pipeline.publish(this.#keys.spaceChannel(spaceId), JSON.stringify(message))
    }
    try {
      await pipeline.exec()
      this.#failing = false
    } catch (err) {
      // Pub/Sub is fire and forget: what could not be said is said by the next join's Redis read.
      if (!this.#failing) this.#log.warn({ err }, 'Could not publish to other servers')
      this.#failing = true
    }
  }

  async close (): Promise<void> {
    for (const spaceId of [...this.#subscribed.keys()]) this.exit(spaceId)
    await this.flush()
  }

  /**
   * Subscribes, waiting at most SUBSCRIBE_WAIT_MS: a hung Redis must not hold a join. The
   * subscription still takes effect when Redis answers, or is made again on its next 'ready'.
   */
  async #subscribe (channel: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const gaveUp = new Promise<void>((resolve) => { timer = setTimeout(resolve, this.#subscribeWaitMs) })
    try {
      await Promise.race([this.#subscribeWithOthers(channel), gaveUp])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * The channels asked for in one turn of the event loop go in one SUBSCRIBE: a join storm enters
   * spaces by the dozen, and each command is a write to Redis's socket.
   */
  #subscribeWithOthers (channel: string): Promise<unknown> {
    this.#toSubscribe.push(channel)
    this.#subscribing ??= new Promise((resolve) => setImmediate(resolve)).then(() => {
      // Not a space left meanwhile: its UNSUBSCRIBE went already, and must not be overtaken.
      const channels = this.#toSubscribe.filter((c) => c === this.#keys.controlChannel || this.#subscribed.has(this.#keys.spaceOfChannel(c) ?? ''))
      this.#toSubscribe = []
      this.#subscribing = undefined
      return channels.length > 0 ? this.#subscriber.subscribe(...channels) : undefined
    })
    return this.#subscribing
  }

  async #resubscribe (): Promise<void> {
    const channels = [this.#keys.controlChannel, ...[...this.#subscribed.keys()].map((id) => this.#keys.spaceChannel(id))]
    try {
      await this.#subscriber.subscribe(...channels)
    } catch {
      return // the next 'ready' tries again
    }
    for (const spaceId of this.#subscribed.keys()) this.publish(spaceId, { kind: 'hello' })
    this.#handler?.onResubscribed?.([...this.#subscribed.keys()])
  }

  #onMessage (channel: string, text: string): void {
    let message: SpaceMessage & ControlMessage & ChatEnvelope
    try {
      message = JSON.parse(text) as SpaceMessage & ControlMessage & ChatEnvelope
    } catch {
      return
    }
    if (typeof message !== 'object' || message === null || typeof message.s !== 'string') return
    // Chat goes out from Redis, and every server delivers it from here, its sender's included.
    if (message.m !== undefined) {
      const spaceId = this.#keys.spaceOfChannel(channel)
      if (spaceId !== undefined && this.#subscribed.has(spaceId) && isChatMessage(message.m) && typeof message.k === 'string') {
        this.#handler?.onChat(spaceId, message.m, message.k)
      }
      return
    }
    if (message.s === this.#serverId) return
    if (channel === this.#keys.controlChannel) {
      if (message.c !== undefined) this.#handler?.onControl(message.s, message.c)
      return
    }
    const spaceId = this.#keys.spaceOfChannel(channel)
    if (spaceId === undefined || !this.#subscribed.has(spaceId) || !Array.isArray(message.e)) return
    const listeners = this.#listeners.get(spaceId)
    for (const event of message.e) {
      if (event.kind === 'bye') listeners?.delete(message.s)
      else listeners?.add(message.s)
    }
    this.#handler?.onSpaceEvents(spaceId, message.s, message.e)
    const waiting = this.#awaitingRosters.get(spaceId)
    if (waiting !== undefined && message.e.some((e) => e.kind === 'roster') && --waiting.left <= 0) waiting.done()
  }
}

function isChatMessage (m: unknown): m is ChatMessage {
  if (typeof m !== 'object' || m === null) return false
  const { id, userId, username, text, sentAt } = m as Record<string, unknown>
  return typeof id === 'string' && typeof userId === 'string' && typeof username === 'string' && typeof text === 'string' && typeof sentAt === 'number'
}
