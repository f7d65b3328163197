import type { ServerEvent } from '../events.js'

const frame = (type: string, payload: unknown): string => JSON.stringify({ type, payload })

/** plaza.v1: the design's names, every event, and `error` for bad input. */
export function encodePlazaV1 (event: ServerEvent): string {
  switch (event.kind) {
    case 'moved':
      // The hot path: one string concatenation instead of an object and a generic stringify.
      return `{"type":"user-moved","payload":{"userId":${JSON.stringify(event.userId)},"x":${event.x},"y":${event.y}}}`
    case 'joined':
      return frame('user-joined-space', { userId: event.userId, username: event.username, x: event.x, y: event.y })
    case 'dropped':
      return frame('user-disconnected', { userId: event.userId })
    case 'left':
      return frame('user-left', { userId: event.userId })
    case 'welcome':
      return frame('space-joined', {
        userId: event.userId,
        spawn: event.spawn,
        users: event.users,
        resumed: event.resumed,
        space: event.space
      })
    case 'move-rejected':
      return frame('move-rejected', { x: event.x, y: event.y, reason: event.reason })
    case 'heartbeat':
      return frame('heartbeat', { timestamp: event.timestamp, serverTime: event.serverTime })
    case 'error':
      return frame('error', event.close === undefined
        ? { code: event.code, message: event.message }
        : { code: event.code, message: event.message, close: event.close })
  }
}
