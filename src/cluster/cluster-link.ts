import type { BusEvent, ControlEvent } from './cluster-bus.js'

/**
 * The other servers, as the room manager and the space admin need them: a space's channel entered
 * while this server has users there, events published to it, deployment-wide events. A lone server
 * uses LOCAL_ONLY; ClusterBus is the Redis Pub/Sub one.
 */
export interface ClusterLink {
  enter: (spaceId: string) => Promise<void>
  exit: (spaceId: string) => void
  publish: (spaceId: string, event: BusEvent, always?: boolean) => void
  publishControl: (event: ControlEvent) => Promise<unknown>
  /** A server died: it listens nowhere any more. */
  forgetServer: (serverId: string) => void
}

export const LOCAL_ONLY: ClusterLink = {
  enter: async () => {},
  exit: () => {},
  publish: () => {},
  publishControl: async () => {},
  forgetServer: () => {}
}
