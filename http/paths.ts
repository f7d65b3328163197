import { join } from 'node:path'
import { projectRoot } from '../src/util/project-root.js'

export { projectRoot }

/** Where `npm run build:demo` puts the demo page and its bundle, and @fastify/static serves them. */
export const demoDir = join(projectRoot, 'dist', 'public')

/**
 * Where `npm run build:demo` puts the operator's page, outside what @fastify/static serves: only
 * its route sends it, with the headers that keep its token safe.
 */
export const adminPageDir = join(projectRoot, 'dist', 'admin')
