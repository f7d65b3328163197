import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Counters } from './counters.js'
import type { StoreFaultReport } from './presence/store.js'
import type { Stats } from './rooms/room-manager.js'

/** The `space` label of the spaces beyond METRICS_MAX_SPACES, summed. */
export const OTHER_SPACES = '(other)'

/** What the space analytics tell the metrics: a session ended on this server. */
export interface SessionMetrics {
  ended: (spaceId: string, seconds: number) => void
}

/**
 * `plaza_sessions_total` and `plaza_session_duration_seconds`, by space: the first `maxSpaceLabels`
 * spaces to end a session get a label of their own, later ones are counted under `(other)` (a
 * counter's series cannot be taken back). Registered by createMetrics, on its registry.
 */
export function createSessionMetrics (maxSpaceLabels: number) {
  const sessions = new Counter({
    name: 'plaza_sessions_total',
    help: 'Sessions ended on this server (a leave, a sweep or the space deleted), by space',
    labelNames: ['space'],
    registers: []
  })
  const durations = new Histogram({
    name: 'plaza_session_duration_seconds',
    help: 'Durations of the sessions ended on this server, by space',
    labelNames: ['space'],
    buckets: [10, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 28_800],
    registers: []
  })
  const labelled = new Set<string>()
  const labelOf = (spaceId: string): string => {
    if (labelled.has(spaceId)) return spaceId
    if (labelled.size >= maxSpaceLabels) return OTHER_SPACES
    labelled.add(spaceId)
    return spaceId
  }
  return {
    collectors: [sessions, durations],
    ended (spaceId: string, seconds: number): void {
      const space = labelOf(spaceId)
      sessions.inc({ space })
      durations.observe({ space }, seconds)
    }
  }
}

export type PrometheusSessionMetrics = ReturnType<typeof createSessionMetrics>

export interface MetricsSources {
  counters: Counters
  /** This server's connected users by space. */
  localStats: () => Stats
  /** Connected users and ghosts across servers; rejects when Redis does not answer. */
  clusterTotals: () => Promise<{ connectedUsers: number, ghostUsers: number }>
  /** Keys the presence store cannot use, and the writes and reads they refused. */
  storeFaults: () => StoreFaultReport
  /** One Redis round trip in ms, or null when Redis did not answer in time. */
  redisLatencyMs: () => Promise<number | null>
  /** At most this many spaces get a label of their own; the rest are summed under `(other)`. */
  maxSpaceLabels: number
  /** The sessions' counter and histogram, kept by the space analytics. */
  sessions: PrometheusSessionMetrics
}

/**
 * Plaza's Prometheus metrics on a registry of its own (several apps may share a process in tests).
 * Counters are read from plain numbers at scrape time, so nothing on the path of a move touches
 * prom-client.
 */
export function createMetrics (sources: MetricsSources) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const { counters } = sources
  for (const collector of sources.sessions.collectors) registry.registerMetric(collector)

  /** A counter whose value is kept elsewhere, as a running total: reset and set at each scrape. */
  const mirror = (name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>) =>
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect () {
        this.reset()
        for (const [labels, value] of read()) this.inc(labels, value)
      }
    })

  mirror('plaza_joins_total', 'Joins accepted, by kind: new (fresh spawn), resume (a ghost came back), takeover (a second connection of a connected user)',
    ['kind'], () => Object.entries(counters.joins).map(([kind, n]) => [{ kind }, n]))
  mirror('plaza_drops_total', 'Connections of joined users that closed without a leave (the user became a ghost)', [], () => [[{}, counters.drops]])
  mirror('plaza_leaves_total', 'Deliberate leaves', [], () => [[{}, counters.leaves]])
  mirror('plaza_moves_total', 'Moves, by result: accepted or the reason of the refusal',
    ['result'], () => Object.entries(counters.moves).map(([result, n]) => [{ result }, n]))
  mirror('plaza_chat_messages_total', 'Chat messages from this server\'s users, by result: accepted, or the reason of the refusal',
    ['result'], () => Object.entries(counters.chats).map(([result, n]) => [{ result }, n]))
  mirror('plaza_messages_received_total', 'WebSocket frames received', [], () => [[{}, counters.messagesIn]])
  mirror('plaza_messages_sent_total', 'WebSocket frames sent', [], () => [[{}, counters.messagesOut]])
  mirror('plaza_presence_refused_total', 'Presence writes and join reads refused because their Redis key holds another writer\'s data (see /admin/health)',
    [], () => [[{}, sources.storeFaults().refused]])
  new Gauge({
    name: 'plaza_presence_faulty_keys',
    help: 'Redis keys the presence store cannot use now (another writer\'s data there); their spaces live in memory only',
    registers,
    collect () { this.set(sources.storeFaults().keys.length) }
  })
  mirror('plaza_stale_users_swept_total', 'Stale users removed from Redis by this server\'s sweeps', [], () => [[{}, counters.staleSwept]])

  new Gauge({
    name: 'plaza_users',
    help: 'Users connected to this server',
    registers,
    collect () { this.set(sources.localStats().totalUsers) }
  })
  new Gauge({
    name: 'plaza_spaces_active',
    help: 'Spaces with at least one user connected to this server',
    registers,
    collect () { this.set(sources.localStats().totalSpaces) }
  })
  new Gauge({
    name: 'plaza_space_users',
    help: 'Users connected to this server, by space (the largest spaces; the rest summed under space="(other)")',
    labelNames: ['space'],
    registers,
    collect () {
      this.reset()
      const spaces = sources.localStats().spacesWithUsers.sort((a, b) => b.userCount - a.userCount)
      for (const { spaceId, userCount } of spaces.slice(0, sources.maxSpaceLabels)) this.set({ space: spaceId }, userCount)
      const rest = spaces.slice(sources.maxSpaceLabels).reduce((sum, s) => sum + s.userCount, 0)
      // "(other)" cannot be a space id (parentheses are not allowed in one).
      if (rest > 0) this.set({ space: OTHER_SPACES }, rest)
    }
  })
  new Gauge({
    name: 'plaza_cluster_users',
    help: 'Users in Redis across all servers, by state: connected or ghost',
    labelNames: ['state'],
    registers,
    async collect () {
      this.reset()
      const census = await sources.clusterTotals().catch(() => undefined)
      if (census === undefined) return
      this.set({ state: 'connected' }, census.connectedUsers)
      this.set({ state: 'ghost' }, census.ghostUsers)
    }
  })
  // prom-client collects metrics concurrently: the two Redis gauges share one PING per scrape.
  let probe: Promise<number | null> | undefined
  const ping = (): Promise<number | null> => {
    probe ??= sources.redisLatencyMs().finally(() => setTimeout(() => { probe = undefined }, 100).unref())
    return probe
  }
  new Gauge({
    name: 'plaza_redis_latency_seconds',
    help: 'Round trip of a Redis PING at scrape time (NaN when Redis did not answer)',
    registers,
    async collect () {
      const ms = await ping()
      // A gauge without labels cannot be absent; NaN keeps a down Redis from reading as 0 s.
      this.set(ms === null ? Number.NaN : ms / 1000)
    }
  })
  new Gauge({
    name: 'plaza_redis_up',
    help: '1 when Redis answered a PING at scrape time, else 0',
    registers,
    async collect () { this.set((await ping()) === null ? 0 : 1) }
  })
  const cleanupDuration = new Histogram({
    name: 'plaza_cleanup_duration_seconds',
    help: 'Duration of the stale sweep',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers
  })
  const cleanupFailures = new Counter({
    name: 'plaza_cleanup_failures_total',
    help: 'Stale sweeps that failed (logged; the next one still runs)',
    registers
  })
  return { registry, cleanupDuration, cleanupFailures }
}

export type Metrics = ReturnType<typeof createMetrics>
