/**
 * Builds the demo page into dist/public/ (served by @fastify/static): public/demo.ts and the
 * client library bundled by esbuild, with the page and stylesheet beside it. `npm start` and
 * `npm test` run it; the output is not committed.
 */
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'
import { demoDir, projectRoot } from '../src/paths.js'

const source = join(projectRoot, 'public')

await mkdir(demoDir, { recursive: true })
await build({
  entryPoints: [join(source, 'demo.ts')],
  outfile: join(demoDir, 'demo.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning'
})
for (const file of ['index.html', 'style.css']) await copyFile(join(source, file), join(demoDir, file))
process.stdout.write(`demo page built in ${demoDir}\n`)
