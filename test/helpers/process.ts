import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { Readable, Writable } from 'node:stream'
import type { Test } from 'tap'

const root = new URL('../..', import.meta.url).pathname

/**
 * Every process a test started and that still runs. A teardown ends each in the ordinary case; this
 * ends them when the test process exits without one (an uncaught error, process.exit). Servers also
 * watch their stdin for the test process's death (exit-with-parent.ts), which no handler here sees.
 */
const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** Kills `child` when this process exits, if it still runs then. */
export function killOnExit (child: ChildProcess): void {
  running.add(child)
  child.once('exit', () => running.delete(child))
}

export async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  return typeof address === 'object' && address !== null ? address.port : 0
}

export interface ServerProcess {
  child: ChildProcessByStdio<Writable, Readable, Readable>
  port: number
  ws: string
  http: string
  exited: Promise<[number | null, NodeJS.Signals | null]>
  output: () => string
}

/**
 * Runs `server/main.ts` in a process of its own, as `npm start` does after the build, on a free port
 * (logging at info: its "Server listening" line says it is up); killed at teardown if still running,
 * and whenever this process dies.
 */
export async function startServer (t: Test, env: Record<string, string | number>): Promise<ServerProcess> {
  const port = Number(env.PORT ?? await freePort())
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/helpers/exit-with-parent.ts', 'server/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])), PORT: String(port), LOG_LEVEL: env.LOG_LEVEL === undefined || env.LOG_LEVEL === 'silent' ? 'info' : String(env.LOG_LEVEL) },
    // stdin: a pipe the server watches, to die with this process (exit-with-parent.ts).
    stdio: ['pipe', 'pipe', 'pipe']
  })
  killOnExit(child)
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  // Dead before the test's keys are deleted (teardowns run last first): it writes nothing after.
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await exited
  })
  const deadline = Date.now() + 20_000
  while (!output.includes('Server listening')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { child, port, ws: `ws://127.0.0.1:${port}`, http: `http://127.0.0.1:${port}`, exited, output: () => output }
}

/** Runs a script of the project (e.g. scripts/token.ts) and resolves to its standard output. */
export async function runScript (script: string, args: string[], env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, env: { PATH: process.env.PATH, ...env } })
  killOnExit(child)
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  if (code !== 0) throw new Error(`${script} exited ${code}`)
  return out.trim()
}
