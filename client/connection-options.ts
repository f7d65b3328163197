/** How a connection is made and kept: what the caller may set, and the defaults, merged in one place. */
import { DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.js'
import type { WebSocketConstructor } from './socket.js'

export interface ConnectionOptions {
  /** The server's WebSocket address, e.g. `ws://localhost:3000/ws`. */
  url: string
  /** The JWT, or a function that returns one (called for each connection, so it can be renewed). */
  token: string | (() => string | Promise<string>)
  /** The WebSocket class: the browser's by default; in Node, `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketConstructor
  /** The reconnection schedule (see DEFAULT_RECONNECT), or false for none. */
  reconnect?: Partial<ReconnectOptions> | false
  /** How often a connected client sends `heartbeat` (ms). Default 15000. */
  heartbeatIntervalMs?: number
  /** With a heartbeat sent and nothing heard for this long (ms), the connection is taken for dead. Default 10000. */
  heartbeatTimeoutMs?: number
  /** How long opening a connection and joining may take before the attempt counts as failed (ms). Default 10000. */
  connectTimeoutMs?: number
  /** In [0, 1): the jitter's source (tests make it predictable). Default Math.random. */
  random?: () => number
}

/** The options with every default filled in; `reconnect` undefined when reconnection is off. */
export interface ConnectionSettings extends Required<Omit<ConnectionOptions, 'reconnect'>> {
  reconnect: ReconnectOptions | undefined
}

export function connectionSettings (options: ConnectionOptions): ConnectionSettings {
  const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (WebSocket === undefined) throw new TypeError('No WebSocket here: pass options.WebSocket (in Node, the `ws` package)')
  return {
    url: options.url,
    token: options.token,
    WebSocket,
    reconnect: options.reconnect === false ? undefined : { ...DEFAULT_RECONNECT, ...options.reconnect },
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 15_000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 10_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    random: options.random ?? Math.random
  }
}
