import fp from 'fastify-plugin'
import { redisKeys } from '../../src/keys.js'
import type { SpaceDefinition } from '../../src/spaces/space.js'
import { SpaceRegistry, SpacesFullError } from '../../src/spaces/space-registry.js'
import { loadSpacesFile } from '../../src/spaces/spaces-file.js'

declare module 'fastify' {
  interface FastifyInstance {
    spaces: SpaceRegistry
  }
}

/** The space every zero-config server offers, so that a newcomer has somewhere to go. */
export const DEMO_SPACE: SpaceDefinition = {
  id: 'lobby',
  width: 24,
  height: 16,
  obstacles: [
    { x: 5, y: 4, width: 4, height: 2 },
    { x: 15, y: 4, width: 4, height: 2 },
    { x: 10, y: 10, width: 4, height: 1 }
  ]
}

/** Space definitions (`fastify.spaces`): loaded from Redis, then SPACES_FILE written over them. */
export default fp(async function spaces (fastify) {
  const { config, redis, log } = fastify
  const registry = new SpaceRegistry({
    redis,
    keys: redisKeys(config.KEY_PREFIX),
    log,
    serverId: config.serverId,
    limits: { maxSpaces: config.MAX_SPACES, maxCells: config.MAX_SPACE_CELLS, maxObstacles: config.MAX_OBSTACLES_PER_SPACE }
  })
  await registry.loadAll()
  if (config.SPACES_FILE !== undefined) {
    const count = await loadSpacesFile(config.SPACES_FILE, registry)
    log.info({ file: config.SPACES_FILE, count }, `Loaded ${count} spaces from ${config.SPACES_FILE}`)
  }
  if (config.devMode && registry.get(DEMO_SPACE.id) === undefined) {
    try {
      await registry.put(DEMO_SPACE)
      log.info({ spaceId: DEMO_SPACE.id }, `Development mode: space ${DEMO_SPACE.id} is ready`)
    } catch (err) {
      if (!(err instanceof SpacesFullError)) throw err
      log.warn({ spaceId: DEMO_SPACE.id }, `Development mode: no space ${DEMO_SPACE.id}, the deployment is full (MAX_SPACES ${config.MAX_SPACES})`)
    }
  }
  fastify.decorate('spaces', registry)
}, { name: 'spaces', dependencies: ['config', 'redis'] })
