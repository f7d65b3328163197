import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'

/** The entry point: build Plaza, listen, and close gracefully on SIGTERM/SIGINT. */
const app = await buildApp()
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
