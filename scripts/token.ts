/**
 * Mints a test token signed with the server's JWT_SECRET (or the generated development secret):
 *   npm run token -- --user alice [--name Alice] [--expires-in 3600]
 */
import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { loadSigningKey } from '../src/config.js'

const usage = 'usage: npm run token -- --user <userId> [--name <display name>] [--expires-in <seconds>]'

export function mintToken (argv: string[], env: Record<string, unknown>): string {
  const { values } = parseArgs({
    args: argv,
    options: {
      user: { type: 'string' },
      name: { type: 'string' },
      'expires-in': { type: 'string' }
    }
  })
  if (values.user === undefined || values.user === '') throw new Error(usage)
  const key = loadSigningKey(env)
  const expiresIn = values['expires-in'] === undefined ? undefined : Number(values['expires-in'])
  if (expiresIn !== undefined && !(Number.isInteger(expiresIn) && expiresIn > 0)) throw new Error(usage)
  const sign = createSigner({ key, algorithm: 'HS256', ...(expiresIn !== undefined ? { expiresIn: expiresIn * 1000 } : {}) })
  return sign({ userId: values.user, ...(values.name !== undefined ? { username: values.name } : {}) })
}

if (process.argv[1] !== undefined && realpathSync(fileURLToPath(import.meta.url)) === realpathSync(resolve(process.argv[1]))) {
  try {
    process.stdout.write(`${mintToken(process.argv.slice(2), process.env)}\n`)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    process.exitCode = 1
  }
}
