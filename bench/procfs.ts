/**
 * What Linux's /proc says about a process and the machine: CPU time, busy time, resident memory.
 * Each reading is NaN where there is no /proc, so that a figure goes missing rather than wrong.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

let clockTicks = 100
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
} catch { /* Linux's usual */ }

/** Clock ticks of user + system time in a `stat` file of /proc (a process's or a thread's); throws without it. */
function statTicks (path: string): number {
  const stat = readFileSync(path, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/** CPU seconds (user + system) the process used so far, or only its main thread (its event loop). */
export function cpuSeconds (pid: number, mainThreadOnly = false): number {
  try {
    return statTicks(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`) / clockTicks
  } catch {
    return Number.NaN
  }
}

/** CPU seconds the whole machine spent busy so far (every core; steal apart). */
export function machineBusy (): { busy: number, steal: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? []
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
    return { busy: (user + nice + system + irq + softirq) / clockTicks, steal: steal / clockTicks }
  } catch {
    return { busy: Number.NaN, steal: Number.NaN }
  }
}

/** Resident memory in bytes. */
export function rssBytes (pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? Number.NaN : Number(match[1]) * 1024
  } catch {
    return Number.NaN
  }
}
