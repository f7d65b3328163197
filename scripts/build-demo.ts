/**
 * Builds the demo page into dist/public/ (served by @fastify/static): public/demo.ts with the
 * client library bundled by esbuild, the library alone as an ES module, the page and stylesheet;
 * and the operator's page, whose HTML goes to dist/admin/ (sent by its route alone). `npm start`
 * and `npm test` run it; the output is not committed.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'
import { adminPageDir, demoDir, projectRoot } from '../http/paths.js'

const source = join(projectRoot, 'public')

await mkdir(demoDir, { recursive: true })
await mkdir(adminPageDir, { recursive: true })
await build({
  // The page, and the client library on its own for any page to import from /demo/plaza-client.js.
  entryPoints: { demo: join(source, 'demo.ts'), 'plaza-client': join(projectRoot, 'client', 'index.ts') },
  outdir: demoDir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning'
})
for (const file of ['index.html', 'style.css']) await copyFile(join(source, file), join(demoDir, file))
// The operator's page at /admin, a bundle of its own (it shares no code with the demo), published
// without a source map. Its page is not under /demo/, where it would go without its headers; what
// an earlier build left there goes.
await build({ entryPoints: { admin: join(source, 'admin.ts') }, outdir: demoDir, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, sourcemap: false, logLevel: 'warning' })
await copyFile(join(source, 'admin.css'), join(demoDir, 'admin.css'))
await copyFile(join(source, 'admin.html'), join(adminPageDir, 'admin.html'))
for (const stale of ['admin.html', 'admin.js.map']) await rm(join(demoDir, stale), { force: true })
process.stdout.write(`demo page built in ${demoDir}\n`)
