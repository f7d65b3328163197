import { RejectReason } from '../protocol.js'

/** Limits that keep one space's bitmap and snapshot small (1024×1024 tiles is 1 MiB). */
export const MAX_SPACE_SIDE = 1024
export const MAX_OBSTACLES = 10_000
export const SPACE_ID_PATTERN = '^[A-Za-z0-9_.-]{1,128}$'
const spaceIdRegExp = new RegExp(SPACE_ID_PATTERN)

export interface Obstacle { x: number, y: number, width: number, height: number }

/** A space as stored, served by the admin API and sent in plaza.v1's `space-joined`. */
export interface SpaceDefinition {
  id: string
  width: number
  height: number
  obstacles: Obstacle[]
}

export interface SpaceInput {
  width: number
  height: number
  obstacles?: Array<{ x: number, y: number, width?: number, height?: number }>
}

export function isSpaceId (id: unknown): id is string {
  return typeof id === 'string' && spaceIdRegExp.test(id)
}

/**
 * Checks what a schema cannot: that every obstacle lies inside the space and that someone can
 * still stand somewhere. Returns the definition, or a message saying what is wrong.
 */
export function defineSpace (id: string, input: SpaceInput): SpaceDefinition | string {
  if (!isSpaceId(id)) return `space id must be 1-128 characters of A-Z a-z 0-9 _ . -`
  const { width, height } = input
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > MAX_SPACE_SIDE) {
      return `${name} must be an integer from 1 to ${MAX_SPACE_SIDE}`
    }
  }
  const raw = input.obstacles ?? []
  if (raw.length > MAX_OBSTACLES) return `at most ${MAX_OBSTACLES} obstacles`
  const obstacles: Obstacle[] = []
  for (const [i, o] of raw.entries()) {
    const obstacle = { x: o.x, y: o.y, width: o.width ?? 1, height: o.height ?? 1 }
    const { x, y, width: w, height: h } = obstacle
    if (![x, y].every((n) => Number.isInteger(n) && n >= 0) || ![w, h].every((n) => Number.isInteger(n) && n >= 1)) {
      return `obstacles[${i}] needs integer x, y >= 0 and width, height >= 1`
    }
    if (x + w > width || y + h > height) {
      return `obstacles[${i}] (${x}, ${y}, ${w}x${h}) extends outside the ${width}x${height} space`
    }
    obstacles.push(obstacle)
  }
  const definition = { id, width, height, obstacles }
  if (new Space(definition).freeTileCount === 0) return 'obstacles cover every tile: nobody could stand anywhere'
  return definition
}

/**
 * A space ready for the hot path: bounds and obstacles answer in O(1) from a bitmap built once per
 * definition.
 */
export class Space {
  readonly definition: SpaceDefinition
  readonly width: number
  readonly height: number
  readonly freeTileCount: number
  readonly #blocked: Uint8Array

  constructor (definition: SpaceDefinition) {
    this.definition = definition
    this.width = definition.width
    this.height = definition.height
    this.#blocked = new Uint8Array(this.width * this.height)
    for (const o of definition.obstacles) {
      for (let y = o.y; y < o.y + o.height; y++) this.#blocked.fill(1, y * this.width + o.x, y * this.width + o.x + o.width)
    }
    let blocked = 0
    for (const b of this.#blocked) blocked += b
    this.freeTileCount = this.#blocked.length - blocked
  }

  get id (): string {
    return this.definition.id
  }

  inBounds (x: number, y: number): boolean {
    return x >= 0 && y >= 0 && x < this.width && y < this.height
  }

  isBlocked (x: number, y: number): boolean {
    return this.#blocked[y * this.width + x] === 1
  }

  /** Where someone may stand: inside the space and not on an obstacle. */
  isWalkable (x: number, y: number): boolean {
    return this.inBounds(x, y) && !this.isBlocked(x, y)
  }

  /**
   * Judges a step from (fromX, fromY) to (x, y) by the rules of PROTOCOL §4, reporting the first
   * broken rule in the order of §3.1; undefined when the step is allowed. Rate is the caller's.
   */
  judgeStep (fromX: number, fromY: number, x: number, y: number, maxStep: number): RejectReason | undefined {
    if (!this.inBounds(x, y)) return RejectReason.OutOfBounds
    const distance = Math.abs(x - fromX) + Math.abs(y - fromY)
    if (distance === 0 || distance > maxStep) return RejectReason.NotAdjacent
    if (this.isBlocked(x, y)) return RejectReason.Blocked
    return undefined
  }

  /**
   * A spawn tile: free of obstacles and of the occupied tiles (`y * width + x`), preferring one whose
   * four neighbours are walkable and unoccupied too, so that a first step in any direction works.
   * Falls back to any free tile, then to any walkable tile (users may share a tile).
   */
  pickSpawn (occupied: ReadonlySet<number>, random: () => number = Math.random): { x: number, y: number } {
    const isFree = (x: number, y: number): boolean => this.isWalkable(x, y) && !occupied.has(y * this.width + x)
    const isRoomy = (x: number, y: number): boolean =>
      isFree(x, y) && isFree(x + 1, y) && isFree(x - 1, y) && isFree(x, y + 1) && isFree(x, y - 1)
    const tiles = this.width * this.height
    // Random probes find a roomy tile at once in any sensible space; the scans below are for crowded ones.
    for (let i = 0; i < 32; i++) {
      const tile = Math.floor(random() * tiles)
      const x = tile % this.width
      const y = (tile - x) / this.width
      if (isRoomy(x, y)) return { x, y }
    }
    for (const accept of [isRoomy, isFree, (x: number, y: number) => this.isWalkable(x, y)]) {
      const candidates: number[] = []
      for (let tile = 0; tile < tiles; tile++) {
        const x = tile % this.width
        if (accept(x, (tile - x) / this.width)) candidates.push(tile)
      }
      if (candidates.length > 0) {
        const tile = candidates[Math.floor(random() * candidates.length)] as number
        return { x: tile % this.width, y: Math.floor(tile / this.width) }
      }
    }
    // defineSpace refuses spaces without a walkable tile, so this is unreachable for stored spaces.
    throw new Error(`space ${this.id} has no walkable tile`)
  }
}
