import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import type { Figures } from '../../bench/measure.js'
import type { Scenario } from '../../bench/options.js'

/** Running `npm run bench` from a test: its output, its JSON (the bench's types), and a check that it left no key behind. */
const root = new URL('../..', import.meta.url).pathname

export interface Output {
  machine: string[]
  redisUrl: string
  keyPrefixes: string[]
  results: Array<{ scenario: Scenario, runs: Figures[] }>
}

export async function bench (t: Test, args: string[]): Promise<{ stdout: string, stderr: string, output: Output }> {
  const dir = mkdtempSync(join(tmpdir(), 'plaza-bench-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'out.json')
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args, '--json', file], {
    cwd: root,
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, 'npm run bench exits 0', { stderr })
  return { stdout, stderr, output: JSON.parse(readFileSync(file, 'utf8')) as Output }
}

export const finite = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n)

export async function noKeysLeft (t: Test, output: Output): Promise<void> {
  const redis = new Redis(output.redisUrl)
  try {
    t.ok(output.keyPrefixes.length > 0, 'Plaza ran under a key prefix of its own')
    for (const prefix of output.keyPrefixes) {
      const [, keys] = await redis.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 10_000)
      t.same(keys, [], `no key left under ${prefix}`)
    }
  } finally {
    redis.disconnect()
  }
}
