/**
 * A plot of move→peer latency p99 against users, as SVG, from the JSON of step runs
 * (`npm run bench -- --step … --json FILE`): one line per server and file (a file per dialect, say),
 * a filled point where the step held (everyone joined, every broadcast delivered, p99 ≤ the limit
 * drawn), a hollow one where it did not.
 *
 *   npx tsx bench/plot.ts --out latency.svg run.json:plaza.v1 run-metaverse.json:metaverse
 *
 * No dependency: the chart is a few lines, circles and labels.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { LoadResult } from './load.js'
import type { Figures } from './measure.js'
import type { Scenario } from './options.js'

/** The part of a bench JSON file (`npm run bench -- --json`, where NaN is written as null) that the plot reads. */
export interface StepRuns {
  machine: string[]
  results: Array<{
    scenario: Pick<Scenario, 'mode' | 'users' | 'spaces' | 'hz'>
    runs: Array<Pick<Figures, 'server'> & { load: Pick<LoadResult, 'users' | 'joined' | 'broadcasts'> & { latencyMs: { p99: number | null } } }>
  }>
}

interface Point { users: number, p99: number, allJoined: boolean, deliveredShare: number }
interface Series { name: string, dash: string, color: string, points: Point[] }

const PLOT_WIDTH = 494
const HEIGHT = 440
const LEFT = 76
const TOP = 48
const BOTTOM = 56
const COLORS: Record<string, string> = { Plaza: '#1f6feb', baseline: '#d1242f', 'baseline --cork': '#2da44e', 'baseline --fastify': '#8250df' }
/** The first file's lines are solid, the next ones' dashed in turn. */
const DASHES = ['', '5 3', '2 3', '8 3 2 3']

const xml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const msLabel = (ms: number): string => ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`

/** The series of each file: its walks' median runs, by server, labelled with the file's label (e.g. its dialect). */
export function seriesOf (files: Array<{ label: string, runs: StepRuns }>): Series[] {
  const series: Series[] = []
  for (const [index, { label, runs }] of files.entries()) {
    const byServer = new Map<string, Point[]>()
    for (const { scenario, runs: servers } of runs.results) {
      if (scenario.mode !== 'walk') continue
      for (const run of servers) {
        const p99 = run.load.latencyMs.p99
        if (p99 === null || !Number.isFinite(p99)) continue
        const { delivered, expected } = run.load.broadcasts
        const points = byServer.get(run.server) ?? []
        points.push({ users: scenario.users, p99, allJoined: run.load.joined === run.load.users, deliveredShare: expected > 0 ? delivered / expected : 0 })
        byServer.set(run.server, points)
      }
    }
    for (const [server, points] of byServer) {
      series.push({
        name: label === '' ? server : `${server}, ${label}`,
        dash: DASHES[index % DASHES.length] as string,
        color: COLORS[server] ?? '#57606a',
        points: points.sort((a, b) => a.users - b.users)
      })
    }
  }
  return series
}

/** The SVG: users on x (linear, from 0), p99 on y (logarithmic), the limit as a dashed line. */
export function latencyPlot (series: Series[], options: { limitMs: number, title: string, subtitle: string }): string {
  const all = series.flatMap((s) => s.points)
  if (all.length === 0) throw new Error('no walk with a latency to plot: the plot needs a --step run')
  const held = (p: Point): boolean => p.allJoined && p.deliveredShare === 1 && p.p99 <= options.limitMs
  const mostUsers = Math.max(...all.map((p) => p.users))
  const step = mostUsers <= 500 ? 100 : 200
  const maxUsers = Math.ceil(mostUsers / step) * step
  const lowest = Math.min(options.limitMs, ...all.map((p) => p.p99))
  const highest = Math.max(options.limitMs, ...all.map((p) => p.p99))
  const yMin = 10 ** Math.floor(Math.log10(Math.max(lowest, 0.1)))
  // At least one decade, even when every value is the same power of ten.
  const yMax = Math.max(10 ** Math.ceil(Math.log10(highest)), yMin * 10)
  const plotW = PLOT_WIDTH
  // The legend's width follows its longest name (~7 px a character at 12 px).
  const width = LEFT + plotW + 16 + 30 + 7 * Math.max(13, ...series.map((s) => s.name.length)) + 8
  const plotH = HEIGHT - TOP - BOTTOM
  const x = (users: number): number => LEFT + (users / maxUsers) * plotW
  const y = (ms: number): number => TOP + plotH - ((Math.log10(Math.max(ms, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH
  const f = (n: number): string => n.toFixed(1)

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEIGHT}" viewBox="0 0 ${width} ${HEIGHT}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="20" font-size="15" font-weight="600">${xml(options.title)}</text>`,
    `<text x="${LEFT}" y="37" fill="#57606a">${xml(options.subtitle)}</text>`
  ]
  for (let ms = yMin; ms <= yMax; ms *= 10) {
    out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${f(y(ms))}" y2="${f(y(ms))}" stroke="#d0d7de"/>`,
      `<text x="${LEFT - 6}" y="${f(y(ms) + 4)}" text-anchor="end">${msLabel(ms)}</text>`)
  }
  for (let users = 0; users <= maxUsers; users += step) {
    out.push(`<line x1="${f(x(users))}" x2="${f(x(users))}" y1="${TOP}" y2="${TOP + plotH}" stroke="#eaeef2"/>`,
      `<text x="${f(x(users))}" y="${TOP + plotH + 16}" text-anchor="middle">${users}</text>`)
  }
  out.push(`<text x="${LEFT + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">users</text>`,
    `<text transform="translate(18 ${TOP + plotH / 2}) rotate(-90)" text-anchor="middle">move→peer latency p99</text>`,
    `<rect x="${LEFT}" y="${TOP}" width="${plotW}" height="${plotH}" fill="none" stroke="#8c959f"/>`,
    `<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${f(y(options.limitMs))}" y2="${f(y(options.limitMs))}" stroke="#bf8700" stroke-dasharray="6 4" stroke-width="1.5"/>`,
    `<text x="${LEFT + plotW - 4}" y="${f(y(options.limitMs) - 5)}" text-anchor="end" fill="#9a6700">limit: p99 ${msLabel(options.limitMs)}</text>`)
  for (const s of series) {
    const dash = s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${s.points.map((p) => `${f(x(p.users))},${f(y(p.p99))}`).join(' ')}"/>`)
    for (const p of s.points) {
      const tip = `${s.name}: ${p.users} users, p99 ${p.p99.toFixed(1)} ms, ${(p.deliveredShare * 100).toFixed(2)}% delivered${held(p) ? '' : ', does not hold'}`
      out.push(`<circle cx="${f(x(p.users))}" cy="${f(y(p.p99))}" r="4.5" stroke="${s.color}" stroke-width="2" fill="${held(p) ? s.color : '#ffffff'}"><title>${xml(tip)}</title></circle>`)
    }
  }
  const legendX = LEFT + plotW + 16
  for (const [i, s] of series.entries()) {
    const ly = TOP + 10 + i * 20
    out.push(`<line x1="${legendX}" x2="${legendX + 24}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`}/>`,
      `<text x="${legendX + 30}" y="${ly + 4}">${xml(s.name)}</text>`)
  }
  const noteY = TOP + 10 + series.length * 20 + 8
  out.push(`<circle cx="${legendX + 12}" cy="${noteY}" r="4.5" fill="#57606a" stroke="#57606a" stroke-width="2"/>`,
    `<text x="${legendX + 30}" y="${noteY + 4}">holds</text>`,
    `<circle cx="${legendX + 12}" cy="${noteY + 20}" r="4.5" fill="#ffffff" stroke="#57606a" stroke-width="2"/>`,
    `<text x="${legendX + 30}" y="${noteY + 24}">does not hold</text>`,
    '</svg>', '')
  return out.join('\n')
}

const USAGE = 'usage: npx tsx bench/plot.ts --out FILE.svg RUN.json[:label] [RUN.json[:label] …] [--p99-limit 50] [--title T]\n'

function main (): void {
  const { values, positionals } = (() => {
    try {
      return parseArgs({
        allowPositionals: true,
        options: {
          out: { type: 'string' },
          'p99-limit': { type: 'string', default: '50' },
          title: { type: 'string' }
        }
      })
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n${USAGE}`)
      return process.exit(2)
    }
  })()
  const limitMs = Number(values['p99-limit'])
  if (values.out === undefined || positionals.length === 0 || !Number.isFinite(limitMs) || limitMs <= 0) {
    process.stderr.write(USAGE)
    process.exit(2)
  }
  const files = positionals.map((arg) => {
    // The label is what follows the file's .json, after a colon.
    const [, path = arg, label = ''] = /^(.*?\.json)(?::(.*))?$/.exec(arg) ?? []
    return { label, runs: JSON.parse(readFileSync(path, 'utf8')) as StepRuns }
  })
  const machine = files[0]?.runs.machine.find((line) => line.startsWith('- machine:'))?.slice('- machine: '.length) ?? ''
  const date = files[0]?.runs.machine.find((line) => line.startsWith('- date:'))?.slice('- date: '.length, '- date: '.length + 10) ?? ''
  const walk = files[0]?.runs.results.find((r) => r.scenario.mode === 'walk')?.scenario
  const title = values.title ?? `Move→peer latency p99 against users${walk === undefined ? '' : ` (spaces of ${Math.round(walk.users / walk.spaces)}, ${walk.hz} moves/s each)`}`
  writeFileSync(values.out, latencyPlot(seriesOf(files), { limitMs, title, subtitle: [date, machine].filter(Boolean).join(', ') }))
  process.stderr.write(`wrote ${values.out}\n`)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) main()
