import pino from 'pino'
import { getOrCreate } from './maps.js'

/** The slice of pino that Plaza's own code logs through, so that src/ does not depend on Fastify. */
export interface Logger {
  debug: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
  /** The current level's name (pino's `level`). */
  readonly level: string
}

export const isDebugEnabled = (log: Logger): boolean => log.level === 'debug' || log.level === 'trace'

/** A batch is written once it holds this much, or when the flush interval comes, whichever is first. */
const LOG_BATCH_BYTES = 4096
/**
 * What one write carries at most (a longer line goes alone, whole). sonic-boom measures the whole
 * batch it appends to at each line, and the join lines' emoji make it a two-byte string: the smaller
 * the batch, the less each line costs while a write is on its way (bench/RESULTS.md, run O).
 */
const LOG_WRITE_BYTES = 2 * LOG_BATCH_BYTES

type Destination = ReturnType<typeof pino.destination>

const destinations = new Map<string, Destination>()

/**
 * Where log lines go, in batches (pino's asynchronous destination): written one by one, each line
 * cost a write through libuv's thread pool, ~4% of a join when joins come one at a time. A write
 * starts at LOG_BATCH_BYTES or every `flushMs` (an empty one when idle: sonic-boom's periodic
 * flush); what is buffered at exit is written then (pino flushes on exit). It writes to the file
 * descriptor itself, where pino's default falls back to a patched process.stdout. One per
 * destination and interval in a process, shared by the apps built in it.
 */
export function batchedDestination (dest: number | string, flushMs: number): Destination {
  return getOrCreate(destinations, `${dest} ${flushMs}`,
    () => pino.destination({ dest, minLength: LOG_BATCH_BYTES, maxWrite: LOG_WRITE_BYTES, periodicFlush: flushMs, sync: false }))
}
