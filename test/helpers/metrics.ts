/**
 * A strict reader of the Prometheus text exposition format 0.0.4, and a scrape of Plaza's /metrics:
 * tests read what a server counted the way an operator does, not from its private fields.
 */
import { ADMIN_TOKEN } from './app.js'

/** What Prometheus sends when it scrapes: it prefers OpenMetrics, then the text format. */
export const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

export interface Sample { name: string, labels: Record<string, string>, value: number }
export interface Exposition { samples: Sample[], types: Map<string, string>, errors: string[] }

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
/**
 * A sample value as Prometheus reads it (Go's strconv.ParseFloat): a decimal float, or NaN, +Inf,
 * -Inf, whose spelling ParseFloat matches ignoring case (prom-client writes NaN as `Nan`).
 */
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[nN][aA][nN]|[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?))$/
/** A HELP docstring: a backslash only as `\\` or `\n`. */
const HELP_TEXT = /^(?:[^\\]|\\[\\n])*$/
const METRIC_TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function numberOf (raw: string): number {
  const special = raw.toLowerCase()
  if (special === 'nan') return Number.NaN
  if (/^\+?inf/.test(special)) return Number.POSITIVE_INFINITY
  if (special.startsWith('-inf')) return Number.NEGATIVE_INFINITY
  return Number(raw)
}

/** `name{label="value",...} value [timestamp]`, or what is wrong with it. */
function parseSampleLine (line: string): Sample | string {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)
  if (nameMatch === null) return 'no valid metric name'
  const name = nameMatch[0]
  const labels: Record<string, string> = {}
  let i = name.length
  if (line[i] === '{') {
    i++
    for (;;) {
      if (line[i] === '}') {
        i++
        break
      }
      const labelMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i))
      if (labelMatch === null) return `no valid label name at column ${i + 1}`
      const label = labelMatch[0]
      if (label.startsWith('__')) return `reserved label name ${label}`
      if (Object.hasOwn(labels, label)) return `label ${label} twice`
      i += label.length
      if (line[i] !== '=' || line[i + 1] !== '"') return `expected =" after label ${label}`
      i += 2
      let value = ''
      for (;;) {
        const c = line[i]
        if (c === undefined) return `unterminated value of label ${label}`
        if (c === '"') {
          i++
          break
        }
        if (c === '\\') {
          const escaped = line[i + 1]
          if (escaped === '\\') value += '\\'
          else if (escaped === '"') value += '"'
          else if (escaped === 'n') value += '\n'
          else return `invalid escape \\${escaped ?? ''} in label ${label}`
          i += 2
          continue
        }
        value += c
        i++
      }
      labels[label] = value
      if (line[i] === ',') {
        i++
        continue
      }
      if (line[i] === '}') {
        i++
        break
      }
      return `expected , or } after label ${label}`
    }
  }
  const rest = /^ +(\S+)(?: +(-?\d+))?$/.exec(line.slice(i))
  const raw = rest?.[1]
  if (raw === undefined) return 'expected " value [timestamp]" after the name and labels'
  if (!VALUE.test(raw)) return `invalid value ${raw}`
  return { name, labels, value: numberOf(raw) }
}

const labelKey = (labels: Record<string, string>, without?: string): string =>
  JSON.stringify(Object.entries(labels).filter(([k]) => k !== without).sort(([a], [b]) => a.localeCompare(b)))

/**
 * Reads an exposition and lists every way it breaks the text format: line syntax, a sample before
 * its family's TYPE, families split in several groups, duplicates, and histograms that do not add up.
 */
export function parseExposition (text: string): Exposition {
  const errors: string[] = []
  const samples: Sample[] = []
  const types = new Map<string, string>()
  const helps = new Set<string>()
  const seen = new Set<string>()
  const finished = new Set<string>()
  let current: string | undefined
  const enter = (family: string, where: string): void => {
    if (family === current) return
    if (finished.has(family)) errors.push(`${where}: ${family} comes back after another family (a family is one group of lines)`)
    if (current !== undefined) finished.add(current)
    current = family
  }
  const familyOf = (name: string, where: string): string | undefined => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (!name.endsWith(suffix)) continue
      const base = name.slice(0, -suffix.length)
      const type = types.get(base)
      if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket')) return base
    }
    const type = types.get(name)
    if (type === 'histogram') errors.push(`${where}: a histogram has only _bucket, _sum and _count samples`)
    return type === undefined ? undefined : name
  }

  if (text !== '' && !text.endsWith('\n')) errors.push('the last line does not end with a line feed')
  const lines = text.split('\n')
  for (const [index, line] of lines.entries()) {
    const where = `line ${index + 1} ${JSON.stringify(line)}`
    if (line === '') continue
    if (line.startsWith('#')) {
      const help = /^# HELP (\S+)(?: (.*))?$/.exec(line)
      const type = /^# TYPE (\S+) (\S+)$/.exec(line)
      const name = help?.[1] ?? type?.[1]
      if (name === undefined) {
        errors.push(`${where}: a comment that is neither # HELP nor # TYPE`)
        continue
      }
      if (!METRIC_NAME.test(name)) errors.push(`${where}: invalid metric name`)
      if (help !== null) {
        if (!HELP_TEXT.test(help[2] ?? '')) errors.push(`${where}: invalid escape in HELP (only \\\\ and \\n)`)
        if (helps.has(name)) errors.push(`${where}: a second HELP for ${name}`)
        helps.add(name)
      } else if (type !== null) {
        if (!METRIC_TYPES.has(type[2] ?? '')) errors.push(`${where}: unknown metric type`)
        if (types.has(name)) errors.push(`${where}: a second TYPE for ${name}`)
        types.set(name, type[2] ?? '')
      }
      enter(name, where)
      continue
    }
    const sample = parseSampleLine(line)
    if (typeof sample === 'string') {
      errors.push(`${where}: ${sample}`)
      continue
    }
    const family = familyOf(sample.name, where)
    if (family === undefined) errors.push(`${where}: sample of ${sample.name} without a TYPE line before it`)
    else enter(family, where)
    const key = `${sample.name}${labelKey(sample.labels)}`
    if (seen.has(key)) errors.push(`${where}: the same series twice`)
    seen.add(key)
    if (family !== undefined && types.get(family) === 'counter' && !(sample.value >= 0)) errors.push(`${where}: a counter below zero`)
    samples.push(sample)
  }

  // Histograms: per series, le buckets that never decrease, a +Inf bucket equal to _count, a _sum.
  for (const [family, type] of types) {
    if (type !== 'histogram') continue
    const series = new Map<string, Array<{ le: number, value: number }>>()
    for (const s of samples) {
      if (s.name !== `${family}_bucket`) continue
      const le = s.labels.le
      if (le === undefined || !VALUE.test(le)) {
        errors.push(`${family}_bucket without a valid le label`)
        continue
      }
      const key = labelKey(s.labels, 'le')
      series.set(key, [...(series.get(key) ?? []), { le: numberOf(le), value: s.value }])
    }
    for (const [key, buckets] of series) {
      buckets.sort((a, b) => a.le - b.le)
      for (let i = 1; i < buckets.length; i++) {
        if ((buckets[i]?.value ?? 0) < (buckets[i - 1]?.value ?? 0)) errors.push(`${family}${key}: bucket counts decrease`)
      }
      const inf = buckets.find((b) => b.le === Number.POSITIVE_INFINITY)
      const count = samples.find((s) => s.name === `${family}_count` && labelKey(s.labels) === key)
      const sum = samples.find((s) => s.name === `${family}_sum` && labelKey(s.labels) === key)
      if (inf === undefined) errors.push(`${family}${key}: no le="+Inf" bucket`)
      if (count === undefined || sum === undefined) errors.push(`${family}${key}: no _count or no _sum`)
      if (inf !== undefined && count !== undefined && inf.value !== count.value) errors.push(`${family}${key}: _count differs from the +Inf bucket`)
    }
  }
  return { samples, types, errors }
}

const sameLabels = (a: Record<string, string>, b: Record<string, string>): boolean => labelKey(a) === labelKey(b)

/** The value of one series, or undefined when the exposition does not have it. */
export function sampleValue (exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  return exposition.samples.find((s) => s.name === name && sameLabels(s.labels, labels))?.value
}

/** Every series of one metric, as {labels: value} keyed by the label set. */
export function seriesOf (exposition: Exposition, name: string): Array<{ labels: Record<string, string>, value: number }> {
  return exposition.samples.filter((s) => s.name === name).map(({ labels, value }) => ({ labels, value }))
}

/** GET `${httpBase}/metrics` as Prometheus does, with the admin token, parsed; throws unless 200. */
export async function scrape (httpBase: string): Promise<Exposition> {
  const reply = await fetch(`${httpBase}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: PROMETHEUS_ACCEPT } })
  const text = await reply.text()
  if (reply.status !== 200) throw new Error(`/metrics answered ${reply.status}: ${text}`)
  return parseExposition(text)
}
