import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

/**
 * Batching of socket writes: the first frame sent to a socket in a turn of the event loop corks it,
 * and every socket corked in that turn is uncorked once, after the turn's I/O. A socket that gets
 * many frames in a turn (a busy space) then makes one write instead of one per frame.
 */
const corked: Socket[] = []

function uncorkAll (): void {
  for (const socket of corked.splice(0)) socket.uncork()
}

/**
 * Corks the WebSocket's TCP socket until the end of this turn, unless it is corked already: true
 * when this call corked it, at the turn's first frame for this socket. Connection reads a client's
 * backlog then, and only then: a socket must not stay corked past its turn.
 */
export function corkForThisTurn (socket: WebSocket): boolean {
  // ws keeps its net.Socket in `_socket` (null until it is open); it is not part of its typed API.
  const raw = (socket as unknown as { _socket: Socket | null })._socket
  if (raw === null || raw.writableCorked > 0) return false
  raw.cork()
  if (corked.push(raw) === 1) setImmediate(uncorkAll)
  return true
}
