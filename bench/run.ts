/**
 * `npm run bench`: the same load (bench/load.ts) against Plaza and against the bare `ws` baselines
 * (bench/baseline-server.ts), one after the other, each in a fresh process, and a table of what
 * users feel and what it costs, with the ratio Plaza/baseline. See bench/README.md.
 *
 *   npm run bench                                        # 200 users, spaces of 20, 10 Hz, 20 s
 *   npm run bench -- --users 600 --hz 10 --duration 20
 *   npm run bench -- --step 200,400,600,800 --duration 15    # the largest U holding p99 ≤ 50 ms, 100% delivery
 *   npm run bench -- --join-storm 2000/100               # 2,000 users joining 100 spaces at once
 *   npm run bench -- ... --out results.md --json results.json
 */
import { execFileSync } from 'node:child_process'
import { appendFileSync, existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Redis } from 'ioredis'
import { type Figures, type MeasureOptions, measure, median } from './measure.js'
import { type BenchOptions, parseOptions, type Scenario } from './options.js'
import { cleanUpOnExit, cleanup, root } from './processes.js'
import { machine, stepsSummary, table, title } from './report.js'
import { type PrivateRedis, type Server, startBaseline, startPlaza, startPrivateRedis } from './servers.js'

/** Compiles Plaza and the baseline into dist/, as `npm start` runs Plaza. */
async function build (): Promise<void> {
  // TypeScript 7's compiler is a native executable: run it directly, not through a node process
  // that a test runner's hooks would follow.
  const { default: tscPath } = await import(pathToFileURL(join(root, 'node_modules', 'typescript', 'lib', 'getExePath.js')).href) as { default: () => string }
  // --preserveSymlinks: in a checkout whose node_modules is a link (a git worktree sharing one), the
  // declarations would otherwise name types by the link's target, which tsc refuses; the JS is the same.
  execFileSync(tscPath(), ['-p', 'tsconfig.build.json', '--preserveSymlinks'], { cwd: root, stdio: 'inherit' })
}

/** The Redis Plaza is measured with, and a line on it for the report. */
async function redisFor (options: BenchOptions): Promise<{ url: string, note: string, private?: PrivateRedis }> {
  let url = options.redisUrl ?? 'redis://127.0.0.1:6379'
  let note = `${url} (shared: its command counts include other clients' commands)`
  let privateRedis: PrivateRedis | undefined
  if (options.privateRedis) {
    privateRedis = await startPrivateRedis()
    url = privateRedis.url
    note = 'a private redis-server started for the run (default configuration, no persistence), so that INFO commandstats counts Plaza\'s commands only'
  }
  if (options.plaza) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    try {
      await probe.connect()
      const version = /redis_version:(\S+)/.exec(await probe.info('server'))?.[1]
      note = `Redis ${version ?? '?'}: ${note}`
    } catch (err) {
      throw new Error(`Redis at ${url} does not answer (${(err as Error).message}); Plaza is measured with Redis`)
    } finally {
      probe.disconnect()
    }
  }
  return { url, note, ...(privateRedis !== undefined ? { private: privateRedis } : {}) }
}

/**
 * The generator's first runs are on cold code (V8 compiles its hot paths meanwhile) and take CPU from
 * the server beside it, the first one measured: the first scenario, twice against a bare baseline.
 */
async function warmUpGenerator (options: BenchOptions, measuring: MeasureOptions): Promise<void> {
  const first = options.scenarios[0] as Scenario
  const warmUp: Scenario = { ...first, durationS: Math.min(first.durationS, 2), warmupS: Math.min(first.warmupS, 1) }
  const server = await startBaseline('plain', options)
  try {
    for (let i = 1; i <= 2; i++) {
      process.stderr.write(`  warming up the load generator (${i}/2): ${title(warmUp, options)}, against the baseline, not measured…\n`)
      await measure(server, warmUp, measuring)
    }
  } finally {
    await server.stop()
  }
}

/**
 * Each target's runs of a scenario. Repeats take turns (Plaza, baseline, Plaza, baseline…), so that
 * a busy moment of a shared machine does not fall on one server only.
 */
async function runTargets (scenario: Scenario, targets: Array<() => Promise<Server>>, options: BenchOptions, measuring: MeasureOptions, keyPrefixes: string[]): Promise<Figures[][]> {
  const all: Figures[][] = targets.map(() => [])
  for (let r = 0; r < options.repeat; r++) {
    for (const [i, start] of targets.entries()) {
      const server = await start()
      if (server.keyPrefix !== undefined) keyPrefixes.push(server.keyPrefix)
      try {
        process.stderr.write(`  ${server.name}: ${scenario.users} users${options.repeat > 1 ? ` (${r + 1}/${options.repeat})` : ''}…\n`)
        all[i]?.push(await measure(server, scenario, measuring))
      } finally {
        await server.stop()
      }
    }
  }
  return all
}

async function main (options: BenchOptions): Promise<void> {
  if (!options.fromSource) await build()
  const redis = await redisFor(options)
  const measuring: MeasureOptions = { ...options, ...(redis.private?.child.pid !== undefined ? { redisPid: redis.private.child.pid } : {}) }

  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim()
  const header = machine(redis.note, options)
  const out: string[] = [`### ${new Date().toISOString().slice(0, 10)}: \`${command}\``, '', ...header, '']
  process.stdout.write(`${header.join('\n')}\n\n`)

  if (options.generatorWarmup) await warmUpGenerator(options, measuring)
  const keyPrefixes: string[] = []
  const results: Array<{ scenario: Scenario, runs: Figures[], tries: Figures[][] }> = []
  for (const scenario of options.scenarios) {
    process.stdout.write(`#### ${title(scenario, options)}\n\n`)
    const targets: Array<() => Promise<Server>> = [
      ...(options.plaza ? [() => startPlaza(redis.url, scenario.spaces, options, redis.private?.child)] : []),
      ...options.baselines.map((b) => () => startBaseline(b, options))
    ]
    const all = await runTargets(scenario, targets, options, measuring, keyPrefixes)
    const runs = all.map((tries) => median(tries, scenario))
    const text = table(scenario, runs, options)
    process.stdout.write(`${text}\n\n`)
    out.push(`#### ${title(scenario, options)}`, '', text, '')
    results.push({ scenario, runs, tries: all })
  }

  const summary = stepsSummary(results.filter((r) => r.scenario.mode === 'walk'), options.p99Limit)
  if (summary.length > 0) {
    process.stdout.write(`#### Steps\n\n${summary.join('\n')}\n\n`)
    out.push('#### Steps', '', ...summary, '')
  }

  if (options.out !== undefined) {
    if (!existsSync(options.out)) writeFileSync(options.out, '# Plaza benchmark results\n\n')
    appendFileSync(options.out, `${out.join('\n')}\n`)
    process.stderr.write(`appended to ${options.out}\n`)
  }
  if (options.json !== undefined) {
    writeFileSync(options.json, JSON.stringify({ command, machine: header, redisUrl: redis.url, keyPrefixes, results }, null, 2))
  }
}

const options = parseOptions(process.argv.slice(2))
cleanUpOnExit()
try {
  await main(options)
  await cleanup()
} catch (err) {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
  await cleanup()
  process.exitCode = 1
}
