import type { PeerEntry, SpaceInfo } from '../client/index.js'

/** What the canvas shows: the space, everyone else in it, and you. */
export interface View {
  space: SpaceInfo
  users: Iterable<PeerEntry>
  self: { userId: string, x: number, y: number, username: string } | undefined
}

const MAX_TILE = 32
/** How opaque an avatar is drawn: a ghost (connection dropped), idle, active. */
const ALPHA = [0.35, 0.6, 1] as const

/** 0: a ghost, 1: connected but idle, 2: active. */
const presence = (user: PeerEntry): 0 | 1 | 2 => !user.connected ? 0 : user.idle ? 1 : 2
const MIN_TILE = 8

/** The same colour for a userId in every window, so people can tell who is who. */
export function colorOf (userId: string): string {
  let hash = 0
  for (let i = 0; i < userId.length; i++) hash = (hash * 31 + userId.charCodeAt(i)) | 0
  return `hsl(${Math.abs(hash) % 360} 65% 45%)`
}

/** Draws the whole view; the tile size fits the space into `maxWidth` CSS pixels. */
export function draw (canvas: HTMLCanvasElement, view: View, maxWidth: number): void {
  const { space } = view
  const tile = Math.max(MIN_TILE, Math.min(MAX_TILE, Math.floor(maxWidth / space.width)))
  const width = space.width * tile
  const height = space.height * tile
  const ratio = globalThis.devicePixelRatio || 1
  if (canvas.width !== width * ratio || canvas.height !== height * ratio) {
    canvas.width = width * ratio
    canvas.height = height * ratio
    canvas.style.width = `${width}px`
    canvas.style.height = `${height}px`
  }
  const ctx = canvas.getContext('2d')
  if (ctx === null) return
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0)
  ctx.clearRect(0, 0, width, height)

  ctx.strokeStyle = '#eaeef2'
  ctx.lineWidth = 1
  ctx.beginPath()
  for (let x = 0; x <= space.width; x++) {
    ctx.moveTo(x * tile + 0.5, 0)
    ctx.lineTo(x * tile + 0.5, height)
  }
  for (let y = 0; y <= space.height; y++) {
    ctx.moveTo(0, y * tile + 0.5)
    ctx.lineTo(width, y * tile + 0.5)
  }
  ctx.stroke()

  ctx.fillStyle = '#57606a'
  for (const { x, y, width: w = 1, height: h = 1 } of space.obstacles) ctx.fillRect(x * tile, y * tile, w * tile, h * tile)

  // Ghosts under the idle under the active, you on top.
  const users = [...view.users].sort((a, b) => presence(a) - presence(b))
  for (const user of users) drawAvatar(ctx, tile, user.x, user.y, user.userId, user.username, ALPHA[presence(user)], false)
  if (view.self !== undefined) drawAvatar(ctx, tile, view.self.x, view.self.y, view.self.userId, view.self.username, 1, true)
}

function drawAvatar (ctx: CanvasRenderingContext2D, tile: number, x: number, y: number, userId: string, name: string, alpha: number, isSelf: boolean): void {
  const cx = (x + 0.5) * tile
  const cy = (y + 0.5) * tile
  ctx.globalAlpha = alpha
  ctx.fillStyle = colorOf(userId)
  ctx.beginPath()
  ctx.arc(cx, cy, tile * 0.38, 0, Math.PI * 2)
  ctx.fill()
  if (isSelf) {
    ctx.strokeStyle = '#1f2328'
    ctx.lineWidth = 2
    ctx.stroke()
  }
  ctx.font = `${Math.max(10, Math.round(tile * 0.4))}px system-ui, sans-serif`
  ctx.textAlign = 'center'
  ctx.textBaseline = 'bottom'
  ctx.fillStyle = '#1f2328'
  ctx.fillText(isSelf ? `${name} (you)` : name, cx, cy - tile * 0.42)
  ctx.globalAlpha = 1
}
