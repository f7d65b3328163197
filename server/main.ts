import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'

/** The entry point: build Plaza, listen, and close gracefully on SIGTERM/SIGINT. */
let app: FastifyInstance
try {
  app = await buildApp()
} catch (err) {
  // A configuration that fails closed (a missing ADMIN_TOKEN, say): its message, and a non-zero exit.
  process.stderr.write(`Plaza did not start: ${(err as Error).message}\n`)
  process.exit(1)
}
const { config } = app

// The drain's time, and 10 s more for the last writes to Redis.
closeWithGrace({ delay: config.DRAIN_DELAY_MS + config.DRAIN_SPREAD_MS + 10_000 }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'Closing Plaza after an error')
  else app.log.info({ signal }, 'Closing Plaza')
  await app.close()
})

await app.listen({ port: config.PORT, host: config.HOST })
if (config.devMode) {
  app.log.info(`Try it: open http://localhost:${config.PORT}/space/lobby in two browser windows`)
  app.log.info(`Or over WebSocket: ws://localhost:${config.PORT}/ws, send {"type":"join","payload":{"spaceId":"lobby","token":"<npm run token -- --user alice>"}}`)
}
