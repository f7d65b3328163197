/**
 * What `npm run bench` prints: the machine it ran on, a markdown table per scenario (a column per
 * server, then the ratio Plaza/other for each), and with --step the largest U each server held.
 */
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import { REJOIN_CUTS, REJOIN_WALK_HZ, REJOIN_WALK_S, type Figures } from './measure.js'
import type { BenchOptions, Scenario } from './options.js'
import { root } from './processes.js'
import { PLAZA_ENTRY } from './servers.js'

export type ReportOptions = Pick<BenchOptions, 'dialect' | 'width' | 'height' | 'p99Limit' | 'repeat' | 'fromSource'>

const fmt = (value: number, digits = 1): string => {
  if (!Number.isFinite(value)) return '—'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

interface Row {
  label: string
  value: (f: Figures) => number
  digits?: number
  /** Shown instead of the number. */
  text?: (f: Figures) => string
  /** No ratio column (counts that should be equal, booleans). */
  noRatio?: boolean
}

const pct = (f: Figures): number => f.load.broadcasts.expected > 0 ? f.load.broadcasts.delivered / f.load.broadcasts.expected * 100 : Number.NaN
const chatPct = (f: Figures): number => (f.load.chats?.expected ?? 0) > 0 ? (f.load.chats?.delivered ?? 0) / (f.load.chats?.expected ?? 0) * 100 : Number.NaN
const count = (n: number | undefined): string => n === undefined ? '—' : n.toLocaleString('en-US')

/** The close codes of the unexpected closes, e.g. " (1011×5)". */
const codes = (f: Figures): string => {
  const entries = Object.entries(f.load.closeCodes)
  return entries.length === 0 ? '' : ` (${entries.map(([code, n]) => `${code}×${n}`).join(', ')})`
}

/** The five commands run most, per `unit` (moves, joins). */
const byType = (f: Figures, unit: number): string =>
  f.redisByCommand.length === 0 ? '—' : f.redisByCommand.slice(0, 5).map(([command, n]) => `${command} ${fmt(n / unit, 2)}`).join(', ')

/** A walk with chats: what the chats did, beside the moves. */
const chatRows: Row[] = [
  { label: 'chats sent (/s)', value: (f) => f.load.chats?.perS ?? Number.NaN, digits: 1, noRatio: true },
  {
    label: 'chat deliveries received / expected (everyone in the space, sender included)',
    value: chatPct,
    text: (f) => `${count(f.load.chats?.delivered)} / ${count(f.load.chats?.expected)} (${fmt(chatPct(f), 2)}%)`,
    noRatio: true
  },
  { label: 'chat→recipient latency p50 (ms)', value: (f) => f.load.chats?.latencyMs.p50 ?? Number.NaN, digits: 2 },
  { label: 'chat→recipient latency p99 (ms)', value: (f) => f.load.chats?.latencyMs.p99 ?? Number.NaN, digits: 2 },
  {
    label: 'refused / unmatched / duplicated chats',
    value: (f) => f.load.chats?.refused ?? Number.NaN,
    text: (f) => `${count(f.load.chats?.refused)} / ${count(f.load.chats?.unmatched)} / ${count(f.load.chats?.duplicated)}`,
    noRatio: true
  }
]

/** Plaza's Redis commands with the chat script's apart (its calls counted by keyspace events, what each runs from chat-append.lua; --private-redis). */
const chatRedisRows: Row[] = [
  { label: 'Redis commands per accepted move, chat apart (--private-redis)', value: (f) => f.redisPerMoveChatApart, digits: 3, noRatio: true },
  {
    label: 'Redis commands per chat message (chat-append.lua calls / messages; --private-redis)',
    value: (f) => f.redisPerChat,
    text: (f) => Number.isFinite(f.redisPerChat) ? `${fmt(f.redisPerChat, 2)} (${count(f.chatScriptCalls)} / ${count(f.redisByCommand.find(([c]) => c === 'xadd')?.[1])})` : '—',
    noRatio: true
  }
]

const walkRows = (p99Limit: number, chats: boolean): Row[] => [
  { label: 'users joined / spaces', value: (f) => f.load.joined, text: (f) => `${f.load.joined} / ${f.load.spaces}`, noRatio: true },
  { label: 'join storm: first connect → last space-joined (ms)', value: (f) => f.load.joinStormMs, digits: 0 },
  { label: 'join latency p99 (ms)', value: (f) => f.load.joinLatencyMs.p99 },
  { label: 'moves accepted (/s)', value: (f) => f.load.moves.perS, digits: 0 },
  { label: 'move→peer latency p50 (ms)', value: (f) => f.load.latencyMs.p50, digits: 2 },
  { label: 'move→peer latency p95 (ms)', value: (f) => f.load.latencyMs.p95, digits: 2 },
  { label: 'move→peer latency p99 (ms)', value: (f) => f.load.latencyMs.p99, digits: 2 },
  { label: 'move→peer latency max (ms)', value: (f) => f.load.latencyMs.max, digits: 1 },
  {
    label: 'broadcasts delivered / expected',
    value: pct,
    text: (f) => `${f.load.broadcasts.delivered.toLocaleString('en-US')} / ${f.load.broadcasts.expected.toLocaleString('en-US')} (${fmt(pct(f), 2)}%)`,
    noRatio: true
  },
  { label: 'rejected moves', value: (f) => f.load.moves.rejected, digits: 0, noRatio: true },
  { label: 'unmatched moves / unexpected closes', value: (f) => f.load.mismatched, text: (f) => `${f.load.mismatched} / ${f.load.unexpectedCloses}${codes(f)}`, noRatio: true },
  ...(chats ? chatRows : []),
  { label: 'server CPU (% of one core)', value: (f) => f.cpuPct, digits: 0 },
  { label: 'server CPU per user (µs per s)', value: (f) => f.cpuUsPerUserS, digits: 0 },
  { label: 'server RSS (MB)', value: (f) => f.rssMB },
  { label: 'server RSS per user, over idle (KB)', value: (f) => f.rssPerUserKB },
  { label: 'Redis commands (/s)', value: (f) => f.redisPerS, digits: 0 },
  { label: 'Redis commands per accepted move', value: (f) => f.redisPerMove, digits: 3 },
  { label: 'Redis commands by type (per 1,000 accepted moves)', value: () => Number.NaN, text: (f) => byType(f, f.load.moves.accepted / 1000), noRatio: true },
  ...(chats ? chatRedisRows : []),
  { label: 'Redis server CPU (% of one core; --private-redis)', value: (f) => f.redisCpuPct, digits: 1, noRatio: true },
  { label: 'event-loop lag p99 (ms)', value: (f) => f.lag.p99Ms, digits: 2 },
  { label: 'event-loop lag max (ms)', value: (f) => f.lag.maxMs, digits: 1 },
  { label: 'load generator CPU (% of one core)', value: (f) => f.load.generator.cpuPct, digits: 0 },
  { label: 'load generator event-loop lag p99 (ms)', value: (f) => f.load.generator.lagP99Ms, digits: 1 },
  { label: 'other processes\' CPU on the machine (% of one core; Redis apart)', value: (f) => f.otherCpuPct, digits: 0, noRatio: true },
  { label: `holds (p99 ≤ ${p99Limit} ms, 100% delivered${chats ? ', chats included' : ''})`, value: (f) => Number(f.held), text: (f) => f.held ? 'yes' : 'no', noRatio: true }
]

const stormRows: Row[] = [
  { label: 'users joined / spaces', value: (f) => f.load.joined, text: (f) => `${f.load.joined} / ${f.load.spaces}`, noRatio: true },
  { label: 'join storm: first connect → last space-joined (ms)', value: (f) => f.load.joinStormMs, digits: 0 },
  { label: 'join latency p50 (ms)', value: (f) => f.load.joinLatencyMs.p50 },
  { label: 'join latency p99 (ms)', value: (f) => f.load.joinLatencyMs.p99 },
  { label: 'join latency max (ms)', value: (f) => f.load.joinLatencyMs.max },
  { label: 'failed joins / unexpected closes', value: (f) => f.load.joinFailures, text: (f) => `${f.load.joinFailures} / ${f.load.unexpectedCloses}${codes(f)}`, noRatio: true },
  { label: 'server CPU during the storm (ms)', value: (f) => f.cpuMs, digits: 0 },
  { label: 'server CPU during the storm (% of one core)', value: (f) => f.cpuPct, digits: 0 },
  { label: 'of which on threads other than the main one (ms; V8 compiling and GC)', value: (f) => f.cpuOtherThreadsMs, digits: 0 },
  { label: 'load generator CPU during the storm (ms)', value: (f) => f.generatorCpuMs, digits: 0 },
  { label: 'joins that resumed a ghost (the server\'s count)', value: (f) => f.resumedJoins, digits: 0, noRatio: true },
  { label: 'server RSS (MB)', value: (f) => f.rssMB },
  { label: 'server RSS per user, over idle (KB)', value: (f) => f.rssPerUserKB },
  { label: 'Redis commands per join', value: (f) => f.redisPerJoin, digits: 2 },
  { label: 'Redis commands by type (per join)', value: () => Number.NaN, text: (f) => byType(f, f.load.joined), noRatio: true },
  { label: 'Redis server CPU (% of one core; --private-redis)', value: (f) => f.redisCpuPct, digits: 1, noRatio: true },
  { label: 'event-loop lag p99 (ms)', value: (f) => f.lag.p99Ms, digits: 1 },
  { label: 'event-loop lag max (ms)', value: (f) => f.lag.maxMs, digits: 1 },
  { label: 'other processes\' CPU on the machine (% of one core; Redis apart)', value: (f) => f.otherCpuPct, digits: 0, noRatio: true }
]

/** A scenario's table: a row per figure, a column per server, then Plaza's ratio to each other server. */
export function table (scenario: Scenario, runs: Figures[], options: ReportOptions): string {
  const { repeat } = options
  const rows = [...(scenario.mode === 'walk' ? walkRows(options.p99Limit, (scenario.chatEveryS ?? 0) > 0) : stormRows)]
  if (repeat > 1) {
    rows.push({
      label: `${scenario.mode === 'walk' ? 'p99' : 'join storm'} of each of ${repeat} runs (ms; other processes' CPU then; the median run is shown)`,
      value: () => Number.NaN,
      text: (f) => f.repeats.map(([v, other]) => `${fmt(v, scenario.mode === 'walk' ? 1 : 0)} (${fmt(other, 0)}%)`).join(', '),
      noRatio: true
    })
  }
  const plaza = runs.find((r) => r.server === 'Plaza')
  const others = runs.filter((r) => r !== plaza)
  const head = ['figure', ...runs.map((r) => r.server), ...(plaza !== undefined ? others.map((o) => `Plaza/${o.server}`) : [])]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => i === 0 ? '---' : '---:').join('|')}|`]
  for (const row of rows) {
    const cells = runs.map((r) => row.text?.(r) ?? fmt(row.value(r), row.digits ?? 1))
    const ratios = plaza === undefined
      ? []
      : others.map((o) => {
        if (row.noRatio) return ''
        const a = row.value(plaza)
        const b = row.value(o)
        return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${fmt(a / b, 2)}×` : '—'
      })
    lines.push(`| ${[row.label, ...cells, ...ratios].join(' | ')} |`)
  }
  return lines.join('\n')
}

export function title (scenario: Scenario, options: Pick<ReportOptions, 'dialect' | 'width' | 'height'>): string {
  const { width, height, dialect } = options
  if (scenario.mode === 'walk') {
    const chats = scenario.chatEveryS !== undefined ? `, a chat every ${scenario.chatEveryS} s each` : ''
    return `${scenario.users} users in ${scenario.spaces} spaces (${width}×${height}), ${scenario.hz} moves/s each${chats}, ${scenario.durationS} s measured after ${scenario.warmupS} s warm-up, ${dialect}`
  }
  const pace = scenario.joinConcurrency === undefined ? 'at once' : `${scenario.joinConcurrency} at a time, each waiting for its space-joined`
  const rejoin = scenario.rejoin === true
    ? `, coming back (the same users, who joined the same server process, walked ${REJOIN_WALK_S} s at ${REJOIN_WALK_HZ} move/s and all dropped, ${REJOIN_CUTS} times before)`
    : ''
  return `join storm: ${scenario.users} users into ${scenario.spaces} spaces (${width}×${height}) ${pace}${rejoin}, ${dialect}`
}

/** For each walk, each server's p99, delivery and whether it held; then the largest U each held. */
export function stepsSummary (walks: Array<{ scenario: Scenario, runs: Figures[] }>, p99Limit: number): string[] {
  if (walks.length <= 1) return []
  const names = walks[0]?.runs.map((r) => r.server) ?? []
  const summary = [
    `| users | ${names.map((n) => `${n} p99 (ms) | ${n} delivered | ${n} holds`).join(' | ')} |`,
    `|---:|${names.map(() => '---:|---:|---').join('|')}|`
  ]
  for (const { scenario, runs } of walks) {
    summary.push(`| ${scenario.users} | ${runs.map((r) => `${fmt(r.load.latencyMs.p99, 2)} | ${fmt(pct(r), 2)}% | ${r.held ? 'yes' : 'no'}`).join(' | ')} |`)
  }
  summary.push('')
  for (const name of names) {
    const held = walks.filter((w) => w.runs.find((r) => r.server === name)?.held).map((w) => w.scenario.users)
    summary.push(`- largest U holding p99 ≤ ${p99Limit} ms with every broadcast delivered, ${name}: ${held.length > 0 ? Math.max(...held) : 'none of the steps'}`)
  }
  return summary
}

/** Plaza's commit, and its uncommitted changes if any (in its own code: the bench's do not count). */
function gitState (): string {
  const plazaCode = ['src', 'plugins', 'routes', PLAZA_ENTRY.split('/')[0] as string]
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', ...new Set(plazaCode)], { cwd: root }).toString()
    const files = dirty.split('\n').filter((l) => l.length > 3).map((l) => l.slice(3))
    return files.length === 0 ? head : `${head} + uncommitted changes in ${files.join(', ')}`
  } catch {
    return 'unknown'
  }
}

/** The lines that say where and when the figures were taken. */
export function machine (redisNote: string, options: Pick<ReportOptions, 'fromSource'>): string[] {
  const cpus = os.cpus()
  const load = os.loadavg().map((l) => l.toFixed(2)).join(', ')
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}`,
    `- node ${process.version}; Plaza at ${gitState()}; servers run ${options.fromSource ? 'from source through tsx' : 'compiled (tsc → dist/), as npm start runs Plaza'}`,
    `- Redis: ${redisNote}`,
    `- load average at the start: ${load}`
  ]
}
