/**
 * The bare baseline Plaza is measured against: one `ws` server speaking the same wire protocol
 * (PROTOCOL.md) as little as a load test needs, and nothing else: no token verification (the JWT's
 * payload is read, not checked), no validation of moves, no Redis, no limits. A move is sent to each
 * peer with one `socket.send` per peer, a plaza.v1 `chat` to everyone in the room (the sender too)
 * as a `chat-message`, at once, kept nowhere; `--cork` corks every socket written to in a turn of the event
 * loop and uncorks them all once (setImmediate), as Plaza does. `--fastify` serves the same through
 * Fastify and @fastify/websocket (corked), to tell the framework's cost from Plaza's.
 *
 *   node --import tsx bench/baseline-server.ts [--port 0] [--host 127.0.0.1] [--cork | --fastify] [--width 20] [--height 20]
 *
 * Prints `listening <port>` once it serves. HTTP: `GET /healthz`; `GET /lag` answers the event-loop
 * delay since the previous `/lag` (perf_hooks.monitorEventLoopDelay, 10 ms resolution, as prom-client
 * measures Plaza's) in seconds, and resets it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { resolve } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import fastifyWebsocket from '@fastify/websocket'
import Fastify from 'fastify'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'

type Dialect = 'plaza.v1' | 'metaverse'
const DIALECTS: readonly string[] = ['plaza.v1', 'metaverse']

export interface BaselineOptions {
  port: number
  host: string
  cork: boolean
  /**
   * Sockets arrive through Fastify and @fastify/websocket (with Plaza's `ws` options and a logger at
   * warn; the bench runs Plaza at info) instead of a bare `http` server; writes are corked as with
   * `cork`. What it costs beside the corked baseline is the framework's, not Plaza's.
   */
  fastify?: boolean
  width: number
  height: number
  /** For clients that offer no subprotocol. */
  defaultDialect: Dialect
}

interface Client {
  socket: WebSocket
  dialect: Dialect
  userId: string
  username: string
  space: Room | undefined
  x: number
  y: number
}

interface Room {
  id: string
  width: number
  height: number
  members: Map<string, Client>
}

/** The event-loop delay resolution, the same as prom-client's default for Plaza's metric. */
export const LAG_RESOLUTION_MS = 10

export function startBaseline (options: BaselineOptions): Promise<{ port: number, close: () => Promise<void> }> {
  const rooms = new Map<string, Room>()
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  lag.enable()

  const corked: Socket[] = []
  const uncorkAll = (): void => {
    for (const raw of corked.splice(0)) raw.uncork()
  }
  const send = options.cork || options.fastify === true
    ? (socket: WebSocket, frame: string): void => {
        const raw = (socket as unknown as { _socket?: Socket })._socket
        if (raw !== undefined && raw.writableCorked === 0) {
          raw.cork()
          if (corked.push(raw) === 1) setImmediate(uncorkAll)
        }
        socket.send(frame)
      }
    : (socket: WebSocket, frame: string): void => { socket.send(frame) }

  const lagReport = (): Record<string, number> => {
    const report = {
      resolutionMs: LAG_RESOLUTION_MS,
      min: lag.min / 1e9,
      mean: lag.mean / 1e9,
      p50: lag.percentile(50) / 1e9,
      p99: lag.percentile(99) / 1e9,
      max: lag.max / 1e9
    }
    lag.reset()
    return report
  }
  const handleProtocols = (offered: Set<string>): string | false => {
    for (const p of offered) if (DIALECTS.includes(p)) return p
    return false
  }

  /** Sends one frame, encoded once per dialect, to everyone in the room but `except`. */
  const broadcast = (room: Room, except: Client, plaza: string, metaverse: string): void => {
    for (const member of room.members.values()) {
      if (member !== except) send(member.socket, member.dialect === 'plaza.v1' ? plaza : metaverse)
    }
  }

  const leave = (client: Client): void => {
    const room = client.space
    if (room === undefined) return
    client.space = undefined
    if (room.members.get(client.userId) !== client) return
    room.members.delete(client.userId)
    const frame = `{"type":"user-left","payload":{"userId":${JSON.stringify(client.userId)}}}`
    broadcast(room, client, frame, frame)
  }

  const join = (client: Client, payload: Record<string, unknown>): void => {
    const spaceId = String(payload.spaceId)
    const claims = readClaims(payload.token)
    const userId = claims?.userId ?? claims?.sub
    if (userId === undefined || userId === null) {
      client.socket.close(4001, 'bad token')
      return
    }
    client.userId = String(userId)
    client.username = typeof claims?.username === 'string' ? claims.username : client.userId
    let room = rooms.get(spaceId)
    if (room === undefined) {
      room = { id: spaceId, width: options.width, height: options.height, members: new Map() }
      rooms.set(spaceId, room)
    }
    const previous = room.members.get(client.userId)
    if (previous !== undefined) {
      previous.space = undefined
      previous.socket.close(4009, 'replaced')
    }
    // A spawn with its four neighbours inside the space.
    client.x = 1 + Math.floor(Math.random() * Math.max(1, room.width - 2))
    client.y = 1 + Math.floor(Math.random() * Math.max(1, room.height - 2))
    const others = [...room.members.values()].filter((m) => m !== previous)
    room.members.set(client.userId, client)
    client.space = room
    const spawn = { x: client.x, y: client.y }
    const welcome = client.dialect === 'plaza.v1'
      ? {
          userId: client.userId,
          spawn,
          users: others.map((m) => ({ userId: m.userId, username: m.username, x: m.x, y: m.y, connected: true })),
          resumed: false,
          space: { id: room.id, width: room.width, height: room.height, obstacles: [] }
        }
      : { userId: client.userId, spawn, users: others.map((m) => ({ userId: m.userId, x: m.x, y: m.y })) }
    send(client.socket, JSON.stringify({ type: 'space-joined', payload: welcome }))
    if (previous !== undefined) return
    const id = JSON.stringify(client.userId)
    broadcast(room, client,
      `{"type":"user-joined-space","payload":{"userId":${id},"username":${JSON.stringify(client.username)},"x":${client.x},"y":${client.y}}}`,
      `{"type":"user-joined","payload":{"userId":${id},"x":${client.x},"y":${client.y}}}`)
  }

  let chats = 0
  /** A chat as Plaza sends it (PROTOCOL §9), without its history, cleaning or limits; metaverse has no chat. */
  const chat = (client: Client, payload: Record<string, unknown>): void => {
    const room = client.space
    if (room === undefined || client.dialect !== 'plaza.v1' || typeof payload.text !== 'string') return
    const text = payload.text.trim()
    if (text === '') return
    const frame = `{"type":"chat-message","payload":{"id":"${++chats}","userId":${JSON.stringify(client.userId)},"username":${JSON.stringify(client.username)},"text":${JSON.stringify(text)},"sentAt":${Date.now()}}}`
    for (const member of room.members.values()) {
      if (member.dialect === 'plaza.v1') send(member.socket, frame)
    }
  }

  const move = (client: Client, payload: Record<string, unknown>): void => {
    const room = client.space
    if (room === undefined) return
    client.x = Number(payload.x)
    client.y = Number(payload.y)
    const rest = `"payload":{"userId":${JSON.stringify(client.userId)},"x":${client.x},"y":${client.y}}}`
    broadcast(room, client, `{"type":"user-moved",${rest}`, `{"type":"movement",${rest}`)
  }

  const onConnection = (socket: WebSocket): void => {
    const dialect = (DIALECTS.includes(socket.protocol) ? socket.protocol : options.defaultDialect) as Dialect
    const client: Client = { socket, dialect, userId: '', username: '', space: undefined, x: 0, y: 0 }
    socket.on('message', (data: RawData) => {
      let message: { type?: unknown, payload?: Record<string, unknown> }
      try {
        message = JSON.parse(data.toString())
      } catch {
        return
      }
      const payload = message.payload ?? {}
      switch (message.type) {
        case 'move': move(client, payload); break
        case 'chat': chat(client, payload); break
        case 'join': if (client.space === undefined) join(client, payload); break
        case 'leave': leave(client); break
        case 'heartbeat':
          if (dialect === 'plaza.v1') send(socket, JSON.stringify({ type: 'heartbeat', payload: { timestamp: payload.timestamp, serverTime: Date.now() } }))
          break
      }
    })
    socket.on('close', () => leave(client))
    socket.on('error', () => {})
  }

  const served = options.fastify === true ? serveWithFastify(options, onConnection, lagReport, handleProtocols) : serveBare(options, onConnection, lagReport, handleProtocols)
  return served.then(({ port, close }) => ({
    port,
    close: async () => {
      lag.disable()
      await close()
    }
  }), (err: unknown) => {
    lag.disable()
    throw err
  })
}

type Served = Promise<{ port: number, close: () => Promise<void> }>

function serveBare (options: BaselineOptions, onConnection: (socket: WebSocket) => void, lagReport: () => Record<string, number>, handleProtocols: (offered: Set<string>) => string | false): Served {
  const http = createServer((request: IncomingMessage, response: ServerResponse) => {
    const json = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    }
    if (request.url === '/lag') json(200, lagReport())
    else if (request.url === '/healthz') json(200, { status: 'ok' })
    else json(426, { error: 'Upgrade Required' })
  })
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, skipUTF8Validation: true, handleProtocols })
  wss.on('connection', onConnection)
  return new Promise((resolve) => {
    http.listen(options.port, options.host, () => {
      const address = http.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      resolve({
        port,
        close: () => new Promise<void>((done) => {
          for (const client of wss.clients) client.terminate()
          wss.close()
          http.close(() => done())
        })
      })
    })
  })
}

async function serveWithFastify (options: BaselineOptions, onConnection: (socket: WebSocket) => void, lagReport: () => Record<string, number>, handleProtocols: (offered: Set<string>) => string | false): Served {
  const app = Fastify({ logger: { level: 'warn' }, forceCloseConnections: true })
  await app.register(fastifyWebsocket, { options: { perMessageDeflate: false, skipUTF8Validation: true, handleProtocols } })
  app.get('/lag', async () => lagReport())
  app.get('/healthz', async () => ({ status: 'ok' }))
  // Any path upgrades, as with the bare server; a plain GET there is told to upgrade.
  app.route({
    method: 'GET',
    url: '/*',
    handler: async (_request, reply) => reply.code(426).send({ error: 'Upgrade Required' }),
    wsHandler: (socket) => onConnection(socket)
  })
  await app.listen({ port: options.port, host: options.host }).catch(async (err: unknown) => {
    await app.close()
    throw err
  })
  const address = app.server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    close: async () => {
      for (const client of app.websocketServer.clients) client.terminate()
      await app.close()
    }
  }
}

/** The JWT's claims, read without verifying the signature (the baseline trusts its load generator). */
function readClaims (token: unknown): Record<string, unknown> | undefined {
  if (typeof token !== 'string') return undefined
  const part = token.split('.')[1]
  if (part === undefined) return undefined
  try {
    const claims: unknown = JSON.parse(Buffer.from(part, 'base64url').toString())
    return typeof claims === 'object' && claims !== null ? claims as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      cork: { type: 'boolean', default: false },
      fastify: { type: 'boolean', default: false },
      width: { type: 'string', default: '20' },
      height: { type: 'string', default: '20' },
      dialect: { type: 'string', default: 'plaza.v1' },
      // Exit when the parent (npm run bench) closes our stdin, so that a killed benchmark leaves nothing behind.
      'parent-watch': { type: 'boolean', default: false }
    }
  })
  const server = await startBaseline({
    port: Number(values.port),
    host: values.host,
    cork: values.cork,
    fastify: values.fastify,
    width: Number(values.width),
    height: Number(values.height),
    defaultDialect: values.dialect === 'metaverse' ? 'metaverse' : 'plaza.v1'
  })
  process.stdout.write(`listening ${server.port}\n`)
  const stop = (): void => { void server.close().then(() => process.exit(0)) }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  if (values['parent-watch']) {
    process.stdin.resume()
    process.stdin.once('end', stop)
    process.stdin.once('close', stop)
  }
}
