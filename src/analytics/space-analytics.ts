import type { Redis } from 'ioredis'
import type { RedisKeys } from '../keys.js'
import type { Logger } from '../logger.js'
import type { SessionMetrics } from '../metrics.js'
import { getOrCreate } from '../util/maps.js'

/** One UTC day of a space's figures (PROTOCOL §11). */
export interface AnalyticsDay {
  /** YYYY-MM-DD, UTC. */
  date: string
  /** Sessions started. */
  visits: number
  /** Distinct userIds that started or resumed a session; approximate beyond EXACT_UNIQUES. */
  uniqueUsers: number
  /** The most distinct users connected to the space at once, across servers. */
  peakUsers: number
  /** Sessions ended. */
  sessions: number
  /** Their mean duration; null when none ended. */
  avgSessionMs: number | null
  chatMessages: number
}

export interface SpaceAnalyticsOptions {
  redis: Redis
  keys: RedisKeys
  log: Logger
  /** How many days a day's figures are kept after it ended. */
  retentionDays: number
  /** Told of each session that ends on this server (Prometheus). */
  metrics?: SessionMetrics
  /** @default Date.now */
  now?: () => number
}

/** A day's unique users are counted exactly up to this many, then in a HyperLogLog. */
export const EXACT_UNIQUES = 1000
/** Unique userIds held in memory at most while Redis is away; later ones are dropped (logged once). */
export const MAX_PENDING_UNIQUES = 100_000
/** While something could not be written, it is tried again this often. */
const RETRY_MS = 1000
const DAY_MS = 86_400_000

/** What happened in one space on one UTC day, not yet written. */
interface PendingDay {
  visits: number
  sessions: number
  sessionMs: number
  chatMessages: number
  /** The space's occupancy changed: its peak is to be compared with the owners hash. */
  peak: boolean
  uniques: Set<string>
}

const COUNTS = ['visits', 'sessions', 'sessionMs', 'chatMessages'] as const

const emptyDay = (): PendingDay => ({ visits: 0, sessions: 0, sessionMs: 0, chatMessages: 0, peak: false, uniques: new Set() })

/** The UTC day of a time in ms, as YYYY-MM-DD. */
/** How long chat counts may wait to be written with others. */
const CHAT_COUNT_MS = 1000

export const utcDate = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** A day's figures are deleted by Redis this many seconds after the day began: its end plus the retention. */
const expiryOf = (date: string, retentionDays: number): number => (Date.parse(date) + (1 + retentionDays) * DAY_MS) / 1000

/** A reply of HGETALL as a whole number, 0 when absent. */
const count = (hash: Record<string, string>, field: string): number => Number.parseInt(hash[field] ?? '0', 10) || 0

/** An error that trying again cannot cure: the key holds another writer's data. */
const isLasting = (err: Error): boolean => err.message.includes('WRONGTYPE')

/**
 * Per-space figures by UTC day, kept in Redis for the whole deployment (PROTOCOL §11). Calls never
 * wait on Redis: they add up in memory and are written on the next turn of the event loop (chat
 * counts within a second), all of a turn in one pipeline. What Redis did not take is kept, merged with what comes next, and tried
 * again every RETRY_MS; what it took is never written again.
 */
export class SpaceAnalytics {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #log: Logger
  readonly #retentionDays: number
  readonly #metrics: SessionMetrics | undefined
  readonly #now: () => number
  /** spaceId → date → what is not written yet. */
  #pending = new Map<string, Map<string, PendingDay>>()
  #pendingUniques = 0
  #droppedUniques = false
  /** A write on the next turn is asked for. */
  #scheduled = false
  #retry: NodeJS.Timeout | undefined
  /** A write asked for within CHAT_COUNT_MS. */
  #soon: NodeJS.Timeout | undefined
  #writing: Promise<boolean> | undefined
  /** The last write failed: writes wait for the retry timer, not every turn. */
  #failing = false
  #closed = false

  constructor (options: SpaceAnalyticsOptions) {
    this.#redis = options.redis
    this.#keys = options.keys
    this.#log = options.log
    this.#retentionDays = options.retentionDays
    this.#metrics = options.metrics
    this.#now = options.now ?? Date.now
  }

  /** A user entered the space fresh: a visit, and a unique user, on `at`'s day. */
  sessionStarted (spaceId: string, userId: string, at: number): void {
    const day = this.#day(spaceId, at)
    day.visits++
    this.#addUnique(day, userId)
  }

  /** A user resumed their session or took their avatar over: a unique user on `at`'s day, no visit. */
  sessionResumed (spaceId: string, userId: string, at: number): void {
    this.#addUnique(this.#day(spaceId, at), userId)
  }

  /** A session ended (leave, sweep, space deleted): counted on `endedAt`'s day, and in the metrics. */
  sessionEnded (spaceId: string, startedAt: number, endedAt: number): void {
    const ms = Math.max(0, endedAt - startedAt)
    const day = this.#day(spaceId, endedAt)
    day.sessions++
    day.sessionMs += ms
    this.#metrics?.ended(spaceId, ms / 1000)
  }

  /**
   * A chat message was accepted in the space. Counted within CHAT_COUNT_MS, with whatever else comes
   * meanwhile: a busy space's chat then costs Redis one write a second, not one per message.
   */
  chatCounted (spaceId: string, at: number): void {
    this.#dayOf(spaceId, utcDate(Number.isFinite(at) ? at : this.#now())).chatMessages++
    this.#scheduleSoon()
  }

  /** Users were admitted to the space: today's peak is raised to its connected users, if more. */
  occupancyChanged (spaceId: string): void {
    this.#day(spaceId, this.#now()).peak = true
  }

  /** Writes everything pending now; true when all of it was written. */
  async flush (): Promise<boolean> {
    while (this.#writing !== undefined) await this.#writing
    if (this.#pending.size === 0) return true
    this.#writing = this.#write().finally(() => { this.#writing = undefined })
    return await this.#writing
  }

  /**
   * The space's figures of `days` UTC days, today (`now`'s day) first, each day present (zeros when
   * nothing happened). Rejects when Redis does not answer.
   */
  async read (spaceId: string, days: number, now = this.#now()): Promise<AnalyticsDay[]> {
    const today = Date.parse(utcDate(now))
    const dates = Array.from({ length: days }, (_, i) => utcDate(today - i * DAY_MS))
    const pipeline = this.#redis.pipeline()
    for (const date of dates) {
      pipeline.hgetall(this.#keys.spaceAnalytics(spaceId, date))
      pipeline.scard(this.#keys.spaceUniques(spaceId, date))
      pipeline.pfcount(this.#keys.spaceUniquesHll(spaceId, date))
    }
    const results = await pipeline.exec()
    if (results === null) throw new Error('the pipeline was not run')
    const replies = results.map(([err, reply]) => {
      if (err !== null) throw err
      return reply
    })
    return dates.map((date, i) => {
      const hash = replies[3 * i] as Record<string, string>
      const exact = replies[3 * i + 1] as number
      const approximate = replies[3 * i + 2] as number
      const sessions = count(hash, 'sessions')
      return {
        date,
        visits: count(hash, 'visits'),
        // Once counted in the HyperLogLog, the set is gone.
        uniqueUsers: approximate > 0 ? approximate : exact,
        peakUsers: count(hash, 'peakUsers'),
        sessions,
        avgSessionMs: sessions > 0 ? Math.round(count(hash, 'sessionMs') / sessions) : null,
        chatMessages: count(hash, 'chatMessages')
      }
    })
  }

  /** Writes what is pending and stops; what Redis does not take now is logged as lost. */
  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#retry)
    this.#retry = undefined
    clearTimeout(this.#soon)
    this.#soon = undefined
    if (await this.flush()) return
    const spaces = [...this.#pending.keys()]
    this.#log.warn({ spaces }, `Space analytics of ${spaces.length} spaces could not be written to Redis before closing; they are lost`)
  }

  #day (spaceId: string, at: number): PendingDay {
    this.#schedule()
    return this.#dayOf(spaceId, utcDate(Number.isFinite(at) ? at : this.#now()))
  }

  #dayOf (spaceId: string, date: string): PendingDay {
    return getOrCreate(getOrCreate(this.#pending, spaceId, () => new Map()), date, emptyDay)
  }

  #addUnique (day: PendingDay, userId: string): void {
    if (day.uniques.has(userId)) return
    if (this.#pendingUniques >= MAX_PENDING_UNIQUES) {
      if (!this.#droppedUniques) {
        this.#log.warn({ limit: MAX_PENDING_UNIQUES }, `Space analytics hold ${MAX_PENDING_UNIQUES} unique users that Redis has not taken; more are not counted until it does`)
      }
      this.#droppedUniques = true
      return
    }
    day.uniques.add(userId)
    this.#pendingUniques++
  }

  /** A write on the next turn, shared by every call of this turn; while writes fail, the retry timer's. */
  #schedule (): void {
    if (this.#scheduled || this.#failing || this.#closed) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      void this.flush()
    })
  }

  /** A write within CHAT_COUNT_MS, unless one comes sooner. */
  #scheduleSoon (): void {
    if (this.#soon !== undefined || this.#scheduled || this.#failing || this.#closed) return
    this.#soon = setTimeout(() => {
      this.#soon = undefined
      void this.flush()
    }, CHAT_COUNT_MS).unref()
  }

  #retryLater (): void {
    if (this.#closed || this.#retry !== undefined) return
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      void this.flush()
    }, RETRY_MS).unref()
  }

  async #write (): Promise<boolean> {
    if (this.#redis.status !== 'ready') return this.#failed(undefined)
    const batch = this.#pending
    this.#pending = new Map()
    this.#pendingUniques = 0
    const pipeline = this.#redis.pipeline()
    // Per command of the pipeline, in order: how to put its part back when it fails.
    const restores: Array<() => void> = []
    for (const [spaceId, days] of batch) {
      for (const [date, day] of days) {
        const expireAt = expiryOf(date, this.#retentionDays)
        const increments = COUNTS.flatMap((field) => day[field] > 0 ? [field, day[field]] : [])
        if (increments.length > 0) {
          pipeline.plazaAnalyticsAdd(this.#keys.spaceAnalytics(spaceId, date), expireAt, ...increments)
          restores.push(() => {
            const pending = this.#dayOf(spaceId, date)
            for (const field of COUNTS) pending[field] += day[field]
          })
        }
        if (day.peak) {
          pipeline.plazaAnalyticsPeak(this.#keys.spaceAnalytics(spaceId, date), this.#keys.spaceOwners(spaceId), expireAt)
          restores.push(() => { this.#dayOf(spaceId, date).peak = true })
        }
        if (day.uniques.size > 0) {
          pipeline.plazaAnalyticsUniques(this.#keys.spaceUniques(spaceId, date), this.#keys.spaceUniquesHll(spaceId, date),
            expireAt, EXACT_UNIQUES, ...day.uniques)
          restores.push(() => {
            const pending = this.#dayOf(spaceId, date)
            for (const userId of day.uniques) this.#addUnique(pending, userId)
          })
        }
      }
    }
    let results: Array<[Error | null, unknown]> | null
    try {
      results = await pipeline.exec()
      if (results === null) throw new Error('the pipeline was not run')
    } catch (err) {
      // A pipeline that failed whole wrote nothing: all of it is kept.
      for (const restore of restores) restore()
      return this.#failed(err)
    }
    let passing: Error | undefined
    results.forEach(([err], i) => {
      if (err === null) return
      if (isLasting(err)) {
        this.#log.error({ err }, 'A space analytics key in Redis holds another writer\'s data; these figures are not counted')
        return
      }
      restores[i]?.()
      passing ??= err
    })
    if (passing !== undefined) return this.#failed(passing)
    if (this.#failing) this.#log.info({}, '✅ Space analytics reach Redis again')
    this.#failing = false
    this.#droppedUniques = false
    if (this.#pending.size > 0) this.#schedule()
    return true
  }

  /** Keeps what failed for the retry timer; says so once per outage. */
  #failed (err: unknown): false {
    if (!this.#failing) this.#log.warn({ err }, 'Space analytics could not be written to Redis; keeping them until it answers')
    this.#failing = true
    this.#retryLater()
    return false
  }
}
