import type { ServerEvent } from '../events.js'

const frame = (type: string, payload: unknown): string => JSON.stringify({ type, payload })

/**
 * The 2d-metaverse dialect: five event names and nothing else, ever. Its clients know no ghosts
 * (a drop is a `user-left`), no heartbeat and no `error`.
 */
export function encodeMetaverse (event: ServerEvent): string | undefined {
  switch (event.kind) {
    case 'moved':
      return `{"type":"movement","payload":{"userId":${JSON.stringify(event.userId)},"x":${event.x},"y":${event.y}}}`
    case 'joined':
      return frame('user-joined', { userId: event.userId, x: event.x, y: event.y })
    case 'dropped':
      return frame('user-left', { userId: event.userId })
    case 'left':
      return event.wasConnected ? frame('user-left', { userId: event.userId }) : undefined
    case 'welcome':
      return frame('space-joined', {
        userId: event.userId,
        spawn: event.spawn,
        users: event.users.filter((u) => u.connected).map((u) => ({ userId: u.userId, x: u.x, y: u.y }))
      })
    case 'move-rejected':
      return frame('movement-rejected', { x: event.x, y: event.y })
    case 'heartbeat':
    case 'error':
    case 'idle':
    case 'chat':
    case 'chat-history':
      return undefined
  }
}
