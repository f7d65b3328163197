import { once } from 'node:events'
import { createConnection, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface TcpProxy {
  port: number
  /**
   * Cuts the network between clients and server. `silent: false` (the default) is a client whose
   * network went down: its sockets error at once, new connections are refused, and the server hears
   * nothing (only its ping finds out). `silent: true` is a network that drops every packet: sockets
   * stay open on both sides, nothing gets through, and new connections hang.
   */
  cut: (options?: { silent?: boolean }) => void
  restore: () => void
  /** Connections accepted so far (a reconnecting client's attempts show here). */
  accepted: () => number
}

/** A TCP relay in front of a server, for cutting the network under a real client. */
export async function startProxy (t: Test, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket, upstream: Socket }>()
  const held = new Set<Socket>()
  let mode: 'open' | 'refuse' | 'silent' = 'open'
  let accepted = 0

  const server = createServer((client) => {
    accepted++
    client.on('error', () => {})
    if (mode === 'refuse') {
      client.destroy()
      return
    }
    if (mode === 'silent') {
      held.add(client)
      client.on('close', () => held.delete(client))
      return
    }
    const upstream = createConnection(targetPort, '127.0.0.1')
    upstream.on('error', () => {})
    const pair = { client, upstream }
    pairs.add(pair)
    client.pipe(upstream)
    upstream.pipe(client)
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end)
    upstream.on('close', end)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  t.teardown(async () => {
    for (const { client, upstream } of pairs) {
      client.destroy()
      upstream.destroy()
    }
    for (const socket of held) socket.destroy()
    server.close()
  })

  return {
    port,
    accepted: () => accepted,
    cut: ({ silent = false } = {}) => {
      mode = silent ? 'silent' : 'refuse'
      for (const pair of pairs) {
        pairs.delete(pair)
        const { client, upstream } = pair
        client.unpipe(upstream)
        upstream.unpipe(client)
        // The server's side stays open and hears nothing more; both directions are dropped.
        upstream.removeAllListeners('close')
        upstream.on('data', () => {})
        client.removeAllListeners('close')
        if (silent) {
          client.on('data', () => {})
          held.add(client)
        } else {
          client.resetAndDestroy()
        }
        held.add(upstream)
      }
    },
    restore: () => { mode = 'open' }
  }
}
