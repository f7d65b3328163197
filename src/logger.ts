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
