import { once } from 'node:events'
import t from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { corkForThisTurn } from '../src/cork.js'

/** A socket is corked by the first frame of a turn, once, and uncorked after it; the next turn again. */

t.test('corkForThisTurn answers true at a turn\'s first frame only, and uncorks after the turn', async (t) => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()) }))
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const client = new WebSocket(`ws://127.0.0.1:${port}`)
  t.teardown(() => client.terminate())
  const [socket] = await once(server, 'connection') as [WebSocket]
  // Corking is a state of the TCP socket, which ws keeps in a private field: the only place to read it.
  const raw = (socket as unknown as { _socket: { writableCorked: number } })._socket

  t.equal(corkForThisTurn(socket), true, 'the first frame of a turn corks')
  t.equal(corkForThisTurn(socket), false, 'later frames of the turn find it corked')
  t.equal(raw.writableCorked, 1, 'corked once')
  socket.send('one')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(raw.writableCorked, 0, 'uncorked after the turn')
  const [frame] = await once(client, 'message') as [Buffer]
  t.equal(frame.toString(), 'one', 'and what was corked went out')
  t.equal(corkForThisTurn(socket), true, 'the next turn\'s first frame corks again')
  await new Promise((resolve) => setImmediate(resolve))
  const connecting = new WebSocket(`ws://127.0.0.1:${port}`)
  t.equal(corkForThisTurn(connecting), false, 'a WebSocket still connecting (no TCP socket yet) is not corked')
  await once(connecting, 'open')
  connecting.terminate()
})
