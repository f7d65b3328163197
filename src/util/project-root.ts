import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The project's root, found the same from the sources (tsx) and from `dist/` (after the build): the
 * nearest folder above this file with a package.json.
 */
function findRoot (from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) return from
  }
}

export const projectRoot = findRoot(dirname(fileURLToPath(import.meta.url)))
