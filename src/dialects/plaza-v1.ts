import type { ServerEvent } from '../events.js'
import type { SpaceDefinition } from '../spaces/space.js'

const frame = (type: string, payload: unknown): string => JSON.stringify({ type, payload })

/** Definitions are never changed in place (a redefinition is a new object): their JSON is kept with them. */
const definitionsJson = new WeakMap<SpaceDefinition, string>()

function definitionJson (space: SpaceDefinition): string {
  let json = definitionsJson.get(space)
  if (json === undefined) {
    json = JSON.stringify(space)
    definitionsJson.set(space, json)
  }
  return json
}

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
      // As frame() would write it, with the space's definition (up to 10,000 obstacles) stringified
      // once per definition rather than at every join.
      return `{"type":"space-joined","payload":{"userId":${JSON.stringify(event.userId)},"spawn":${JSON.stringify(event.spawn)},` +
        `"users":${JSON.stringify(event.users)},"resumed":${event.resumed},"space":${definitionJson(event.space)},"chat":${JSON.stringify(event.chat)}}}`
    case 'idle':
      return frame('user-idle', { userId: event.userId, idle: event.idle, lastActive: event.lastActive })
    case 'chat':
      return frame('chat-message', event.message)
    case 'chat-history':
      return frame('chat-history', { messages: event.messages, more: event.more })
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
