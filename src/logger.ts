import pino from 'pino'
import { getOrCreate } from './util/maps.js'

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
 * batch at each line it appends, so a smaller batch keeps each line cheap while a write is out.
 */
const LOG_WRITE_BYTES = 2 * LOG_BATCH_BYTES

type Destination = ReturnType<typeof pino.destination>

const destinations = new Map<string, Destination>()

/**
 * Where log lines go, in batches (pino's asynchronous destination), so that a line does not cost a
 * write through libuv's thread pool of its own. A write starts at LOG_BATCH_BYTES or every
 * `flushMs`; what is buffered at exit is written then (pino flushes on exit). One per destination
 * and interval in a process, shared by the apps built in it.
 */
export function batchedDestination (dest: number | string, flushMs: number): Destination {
  return getOrCreate(destinations, `${dest} ${flushMs}`,
    () => pino.destination({ dest, minLength: LOG_BATCH_BYTES, maxWrite: LOG_WRITE_BYTES, periodicFlush: flushMs, sync: false }))
}

/** A logger that says nothing: for tools and tests that build Plaza's parts alone. */
export const silentLogger: Logger = { level: 'silent', debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }
