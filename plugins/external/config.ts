import fp from 'fastify-plugin'
import { loadConfig, type Config } from '../../src/config.js'

export interface ConfigPluginOptions {
  /** Configuration loaded already (by the server entry, to set up logging); else read from the environment. */
  config?: Config
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

/** Reads and validates the configuration once; everything else reaches it as `fastify.config`. */
export default fp<ConfigPluginOptions>(async function config (fastify, options) {
  const config = options.config ?? loadConfig()
  fastify.decorate('config', config)
  if (config.generated.length > 0) {
    fastify.log.warn({ file: config.DEV_SECRETS_FILE },
      `🔑 Generated ${config.generated.join(' and ')} for this machine (kept in ${config.DEV_SECRETS_FILE}); set them in the environment for anything but development`)
  }
  // Development mode's own secrets are printed at every start (they live in a file a newcomer may
  // not look at); a value the operator set never is.
  const { JWT_SECRET, ADMIN_TOKEN } = config.devSecrets
  if (JWT_SECRET !== undefined) fastify.log.warn(`🔑 JWT_SECRET=${JWT_SECRET}  (mint a token: npm run token -- --user alice)`)
  if (ADMIN_TOKEN !== undefined) fastify.log.warn(`🔑 ADMIN_TOKEN=${ADMIN_TOKEN}`)
}, { name: 'config' })
