import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The project's root, found the same from `src/` (tsx) and from `dist/src/` (after the build):
 * the nearest folder above this file with a package.json.
 */
function findRoot (from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) return from
  }
}

export const projectRoot = findRoot(dirname(fileURLToPath(import.meta.url)))

/** Where `npm run build:demo` puts the demo page and its bundle, and @fastify/static serves them. */
export const demoDir = join(projectRoot, 'dist', 'public')
