/** The WebSocket as this client uses it: the browser's, or the `ws` package's in Node. */

/** The dialect this client speaks, offered at the upgrade. */
export const SUBPROTOCOL = 'plaza.v1'

/** What both the browser's WebSocket and the `ws` package offer, and all this client uses. */
export interface WebSocketLike {
  readonly readyState: number
  // biome-ignore lint/suspicious/noExplicitAny: the browser's and ws's event types differ; only .data/.code/.reason are read
  onopen: ((event: any) => void) | null
  // biome-ignore lint/suspicious/noExplicitAny: as above
  onmessage: ((event: any) => void) | null
  // biome-ignore lint/suspicious/noExplicitAny: as above
  onclose: ((event: any) => void) | null
  // biome-ignore lint/suspicious/noExplicitAny: as above
  onerror: ((event: any) => void) | null
  send: (data: string) => void
  close: (code?: number, reason?: string) => void
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

/** `readyState` of a socket that can send. */
export const OPEN = 1

/** Close codes this client uses for connections it gives up on (never sent by a server). */
export const ClientCloseCode = { Timeout: 4000, Normal: 1000 } as const

/** Stops listening to `socket`: nothing it does later reaches this client. */
export function detachSocket (socket: WebSocketLike): void {
  socket.onopen = null
  socket.onmessage = null
  socket.onclose = null
  // Not null: `ws` throws an 'error' event that nobody listens to (e.g. closing while connecting).
  socket.onerror = () => {}
}
