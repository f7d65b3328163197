import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { latencyPlot, seriesOf, type StepRuns } from '../bench/plot.js'

/** The plot of latency against users that bench/plot.ts draws from step runs' JSON. */
const root = new URL('..', import.meta.url).pathname

const run = (server: string, p99: number, delivered: number, joined = 10): StepRuns['results'][number]['runs'][number] =>
  ({ server, load: { users: 10, joined, latencyMs: { p99 }, broadcasts: { delivered, expected: 1000 } } })

const steps: StepRuns = {
  machine: ['- date: 2026-11-26T14:00:00.000Z', '- machine: 2 × Test CPU, 1 GiB RAM'],
  results: [
    { scenario: { mode: 'join-storm', users: 2000, spaces: 100, hz: 0 }, runs: [run('Plaza', 0, 0)] },
    { scenario: { mode: 'walk', users: 600, spaces: 30, hz: 10 }, runs: [run('Plaza', 34.5, 1000), run('baseline', 3261, 1000)] },
    { scenario: { mode: 'walk', users: 300, spaces: 15, hz: 10 }, runs: [run('Plaza', 11.3, 1000), run('baseline', 25.5, 1000, 9)] },
    { scenario: { mode: 'walk', users: 800, spaces: 40, hz: 10 }, runs: [run('Plaza', 85.8, 1000), run('baseline', 11319, 860)] }
  ]
}

const circles = (svg: string): Array<{ cy: number, fill: string, tip: string }> =>
  [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)" r="4.5" stroke="[^"]+" stroke-width="2" fill="([^"]+)"><title>([^<]+)<\/title>/g)]
    .map((m) => ({ cy: Number(m[1]), fill: m[2] as string, tip: m[3] as string }))

t.test('one line per server, its walks in order of users; storms left out', async (t) => {
  const series = seriesOf([{ label: 'plaza.v1', runs: steps }])
  t.same(series.map((s) => s.name), ['Plaza, plaza.v1', 'baseline, plaza.v1'])
  t.same(series[0]?.points.map((p) => p.users), [300, 600, 800])
  t.same(series[1]?.points.map((p) => [p.users, p.p99, p.allJoined]), [[300, 25.5, false], [600, 3261, true], [800, 11319, true]])
  t.equal(series[1]?.points[2]?.deliveredShare, 0.86)
  t.same(series.map((s) => s.dash), ['', ''], 'one file: solid lines')
})

t.test('the SVG: a point per step, filled where it held, higher for a larger p99, the limit drawn', async (t) => {
  const svg = latencyPlot(seriesOf([{ label: '', runs: steps }]), { limitMs: 50, title: 'T <&>', subtitle: 'S' })
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.match(svg, /<\/svg>\n$/)
  t.match(svg, 'T &lt;&amp;&gt;', 'text is escaped')
  t.match(svg, 'limit: p99 50 ms')
  t.equal((svg.match(/<polyline /g) ?? []).length, 2)
  const points = circles(svg)
  t.equal(points.length, 6)
  const plaza = points.filter((p) => p.tip.startsWith('Plaza:'))
  t.same(plaza.map((p) => p.fill === '#ffffff'), [false, false, true], 'hollow only where the step did not hold (800)')
  const baseline = points.filter((p) => p.tip.startsWith('baseline:'))
  t.same(baseline.map((p) => p.fill === '#ffffff'), [true, true, true], 'hollow where someone did not join (300), p99 is over the limit (600) or a broadcast was lost (800)')
  const stricter = circles(latencyPlot(seriesOf([{ label: '', runs: steps }]), { limitMs: 30, title: '', subtitle: '' }))
  t.same(stricter.filter((p) => p.tip.startsWith('Plaza:')).map((p) => p.fill === '#ffffff'), [false, true, true], 'the limit drawn is the one the points are judged by')
  t.ok((plaza[0]?.cy ?? 0) > (plaza[1]?.cy ?? 0) && (plaza[1]?.cy ?? 0) > (plaza[2]?.cy ?? 0), 'a larger p99 is drawn higher')
  t.match(points.at(-1)?.tip ?? '', 'baseline: 800 users, p99 11319.0 ms, 86.00% delivered, does not hold')
  // Logarithmic: from 10 ms to 100 s (11,319 ms rounds up), four decades of equal height.
  const grid = [...svg.matchAll(/<text x="\d+" y="([\d.]+)" text-anchor="end">([^<]+)<\/text>/g)].map((m) => [m[2], Number(m[1])] as const)
  t.same(grid.map(([label]) => label), ['10 ms', '100 ms', '1 s', '10 s', '100 s'])
  const gaps = grid.slice(1).map(([, y], i) => (grid[i]?.[1] ?? 0) - y)
  for (const gap of gaps) t.ok(Math.abs(gap - (gaps[0] ?? 0)) < 0.2, 'each decade is as tall as the others')
})

t.test('all the same power of ten still makes an axis; the x axis ends on a labelled tick', async (t) => {
  const flat: StepRuns = { machine: [], results: [{ scenario: { mode: 'walk', users: 700, spaces: 35, hz: 10 }, runs: [run('Plaza', 10, 1000)] }] }
  const svg = latencyPlot(seriesOf([{ label: '', runs: flat }]), { limitMs: 10, title: '', subtitle: '' })
  t.notMatch(svg, 'NaN')
  t.notMatch(svg, 'Infinity')
  t.match(svg, '>800</text>', '700 users: the axis runs to 800, labelled')
})

t.test('a broadcast lost is enough for a point not to hold; the legend is as wide as its longest name', async (t) => {
  const lossy: StepRuns = {
    machine: [],
    results: [{ scenario: { mode: 'walk', users: 100, spaces: 5, hz: 10 }, runs: [run('Plaza', 20, 1000), run('baseline', 20, 999)] }]
  }
  const label = 'a rather long label for this run'
  const svg = latencyPlot(seriesOf([{ label, runs: lossy }]), { limitMs: 50, title: '', subtitle: '' })
  t.same(circles(svg).map((p) => [p.tip.split(':')[0], p.fill === '#ffffff']), [['Plaza, a rather long label for this run', false], ['baseline, a rather long label for this run', true]])
  t.match(circles(svg)[1]?.tip ?? '', '99.90% delivered, does not hold')
  const width = Number(/^<svg [^>]* width="(\d+)"/.exec(svg)?.[1])
  t.ok(width >= 76 + 494 + 46 + 7 * `baseline, ${label}`.length, `the legend fits (${width} px)`)
})

t.test('a file with no walk is refused with a reason', async (t) => {
  t.throws(() => latencyPlot(seriesOf([{ label: '', runs: { machine: [], results: [steps.results[0] as StepRuns['results'][number]] } }]), { limitMs: 50, title: '', subtitle: '' }),
    /needs a --step run/)
})

t.test('the command line: two files, labelled, into one SVG with the machine in its subtitle', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'plaza-plot-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'a.json'), JSON.stringify(steps))
  writeFileSync(join(dir, 'b.json'), JSON.stringify(steps))
  const out = join(dir, 'plot.svg')
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bench/plot.ts', '--out', out, join(dir, 'a.json:plaza.v1'), join(dir, 'b.json:metaverse: 2')], { cwd: root, encoding: 'utf8' })
  t.equal(result.status, 0, result.stderr)
  const svg = readFileSync(out, 'utf8')
  t.match(svg, 'Plaza, plaza.v1')
  t.match(svg, 'baseline, metaverse: 2', 'a label may hold a colon')
  t.match(svg, '2026-11-26, 2 × Test CPU, 1 GiB RAM')
  t.match(svg, 'spaces of 20, 10 moves/s each')
  t.equal((svg.match(/stroke-dasharray="5 3" points=/g) ?? []).length, 2, 'the second file\'s lines are dashed')
  for (const args of [[], ['--out', out, join(dir, 'a.json'), '--p99-limit', 'fifty'], ['--out', out, join(dir, 'a.json'), '--p99-limit', 'Infinity'], ['--out', out, join(dir, 'a.json'), '--colour']]) {
    const usage = spawnSync(process.execPath, ['--import', 'tsx', 'bench/plot.ts', ...args], { cwd: root, encoding: 'utf8' })
    t.equal(usage.status, 2, `refused: ${args.join(' ') || 'no arguments'}`)
    t.match(usage.stderr, 'usage:')
  }
})
