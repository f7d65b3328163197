import { RejectReason } from '../protocol.js'

export const SPACE_ID_PATTERN = '^[A-Za-z0-9_.-]{1,128}$'
const spaceIdRegExp = new RegExp(SPACE_ID_PATTERN)

/**
 * What one definition may hold, so that checking, building and sending a space stays cheap: its
 * bitmap has a byte per tile, and its obstacles are parsed, checked and sent whole.
 */
export interface SpaceLimits {
  /** Obstacles in one space (MAX_OBSTACLES_PER_SPACE). */
  maxObstacles: number
  /** Tiles in one space, width × height (MAX_SPACE_CELLS). */
  maxCells: number
}

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

/** The obstacle bitmap (a byte per tile, `y * width + x`, 1 where blocked) and its free tiles. */
export interface ObstacleBitmap {
  blocked: Uint8Array
  free: number
}

/**
 * Work done in pieces: a generator that yields, without a value, between pieces of about the same
 * cost (a thousand obstacles or tiles), and returns its result. `now` does it all at once; the
 * registry does it in slices that give the event loop a turn, so that a large space never holds it
 * for more than a few milliseconds.
 */
export type Work<T> = Generator<undefined, T, undefined>

/** Obstacles or tiles between two pieces of Work. */
const PIECE = 1024

/** Does `work` at once. */
export function now<T> (work: Work<T>): T {
  for (;;) {
    const step = work.next()
    if (step.done === true) return step.value
  }
}

export function isSpaceId (id: unknown): id is string {
  return typeof id === 'string' && spaceIdRegExp.test(id)
}

/** The message refusing `count` obstacles, or undefined when a space may have that many. */
export function tooManyObstacles (count: number, limits: SpaceLimits): string | undefined {
  if (count <= limits.maxObstacles) return undefined
  return `${count} obstacles, more than the ${limits.maxObstacles} a space may have (MAX_OBSTACLES_PER_SPACE)`
}

const isCoordinate = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0
const isLength = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 1

/**
 * Checks what a schema cannot: the limits, and that every obstacle lies inside the space, in
 * O(obstacles). Returns the normalized definition, or a message saying what is wrong. Whether
 * someone can still stand somewhere takes the bitmap: spaceOf checks that.
 */
export function * definitionOf (id: string, input: SpaceInput, limits: SpaceLimits): Work<SpaceDefinition | string> {
  if (!isSpaceId(id)) return 'space id must be 1-128 characters of A-Z a-z 0-9 _ . -'
  const { width, height } = input
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!isLength(value) || value > limits.maxCells) return `${name} must be an integer from 1 to ${limits.maxCells}`
  }
  if (width * height > limits.maxCells) {
    return `a ${width}x${height} space has ${width * height} tiles, more than the ${limits.maxCells} a space may have (MAX_SPACE_CELLS)`
  }
  const raw: unknown = input.obstacles ?? []
  if (!Array.isArray(raw)) return 'obstacles must be an array'
  const tooMany = tooManyObstacles(raw.length, limits)
  if (tooMany !== undefined) return tooMany
  const obstacles: Obstacle[] = new Array(raw.length)
  for (let i = 0; i < raw.length; i++) {
    if (i % PIECE === PIECE - 1) yield
    const o = raw[i] as Partial<Obstacle> | null
    const x = o?.x
    const y = o?.y
    const w = o?.width ?? 1
    const h = o?.height ?? 1
    if (!isCoordinate(x) || !isCoordinate(y) || !isLength(w) || !isLength(h)) {
      return `obstacles[${i}] needs integer x, y >= 0 and width, height >= 1`
    }
    if (x + w > width || y + h > height) {
      return `obstacles[${i}] (${x}, ${y}, ${w}x${h}) extends outside the ${width}x${height} space`
    }
    obstacles[i] = { x, y, width: w, height: h }
  }
  return { id, width, height, obstacles }
}

/** The space of a valid definition (definitionOf's), or a message when obstacles cover every tile. */
export function * spaceOf (definition: SpaceDefinition): Work<Space | string> {
  const space = new Space(definition, yield * obstacleBitmap(definition))
  return space.freeTileCount > 0 ? space : 'obstacles cover every tile: nobody could stand anywhere'
}

/** A space from unchecked input: definitionOf, then spaceOf. */
export function * spaceFromInput (id: string, input: SpaceInput, limits: SpaceLimits): Work<Space | string> {
  const definition = yield * definitionOf(id, input, limits)
  return typeof definition === 'string' ? definition : yield * spaceOf(definition)
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

  /**
   * `definition` must be valid (definitionOf's: every obstacle inside the space); its `bitmap` is
   * built here unless it was already (by spaceOf, in pieces).
   */
  constructor (definition: SpaceDefinition, bitmap: ObstacleBitmap = now(obstacleBitmap(definition))) {
    this.definition = definition
    this.width = definition.width
    this.height = definition.height
    this.#blocked = bitmap.blocked
    this.freeTileCount = bitmap.free
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

let bitmapsBuiltCount = 0

/** How many obstacle bitmaps this process has built: lets a test see that a definition is built once. */
export function bitmapsBuilt (): number {
  return bitmapsBuiltCount
}

/**
 * The obstacle bitmap, row by row, in O(obstacles + tiles) and never per tile of each obstacle:
 * 10,000 overlapping obstacles as large as the space cost what a few do. A row where no obstacle
 * starts or ends is a copy of the row above (a native copy); any other row is filled from the
 * obstacles covering it, merged in x order when they are few, else from a running count per column.
 */
function * obstacleBitmap ({ width, height, obstacles }: SpaceDefinition): Work<ObstacleBitmap> {
  bitmapsBuiltCount++
  const blocked = new Uint8Array(width * height)
  // Each obstacle starts covering at row y and stops at row y + height: its two events, bucketed by
  // row (a counting sort). An event is the obstacle's index, or its complement (~i) for a stop.
  const firstEvent = new Int32Array(height + 2)
  const count = (y: number): void => { firstEvent[y + 1] = (firstEvent[y + 1] as number) + 1 }
  for (let i = 0; i < obstacles.length; i++) {
    if (i % PIECE === PIECE - 1) yield
    const o = obstacles[i] as Obstacle
    count(o.y)
    count(o.y + o.height)
  }
  for (let y = 1; y < firstEvent.length; y++) firstEvent[y] = (firstEvent[y] as number) + (firstEvent[y - 1] as number)
  yield
  const events = new Int32Array(2 * obstacles.length)
  const next = firstEvent.slice()
  const place = (y: number, event: number): void => {
    const at = next[y] as number
    events[at] = event
    next[y] = at + 1
  }
  for (let i = 0; i < obstacles.length; i++) {
    if (i % PIECE === PIECE - 1) yield
    const o = obstacles[i] as Obstacle
    place(o.y, i)
    place(o.y + o.height, ~i)
  }
  // Per column, how many covering obstacles begin there minus how many end there.
  const edges = new Int32Array(width + 1)
  const covering = new Set<number>()
  let free = 0
  let rowFree = width
  let done = 0
  for (let y = 0; y < height; y++) {
    const row = y * width
    const from = firstEvent[y] as number
    const to = firstEvent[y + 1] as number
    for (let k = from; k < to; k++) {
      if (k % PIECE === PIECE - 1) yield
      const event = events[k] as number
      const index = event < 0 ? ~event : event
      const step = event < 0 ? -1 : 1
      const o = obstacles[index] as Obstacle
      edges[o.x] = (edges[o.x] as number) + step
      edges[o.x + o.width] = (edges[o.x + o.width] as number) - step
      if (step > 0) covering.add(index)
      else covering.delete(index)
    }
    if (from === to) {
      if (covering.size > 0) blocked.copyWithin(row, row - width, row)
    } else if (covering.size === 0) {
      rowFree = width
    } else if (covering.size < Math.min(64, width / 16)) {
      rowFree = width - fillMerged(blocked, row, obstacles, covering)
    } else {
      rowFree = width - (yield * fillCounted(blocked, row, edges, width))
    }
    free += rowFree
    done += width
    if (done >= PIECE) {
      done = 0
      yield
    }
  }
  return { blocked, free }
}

/** Fills one row from its few covering obstacles, sorted by x and merged; returns the tiles blocked. */
function fillMerged (blocked: Uint8Array, row: number, obstacles: readonly Obstacle[], covering: ReadonlySet<number>): number {
  const spans = [...covering].map((i) => obstacles[i] as Obstacle).sort((a, b) => a.x - b.x)
  let count = 0
  let start = 0
  let end = 0
  for (const o of spans) {
    if (o.x > end) {
      blocked.fill(1, row + start, row + end)
      count += end - start
      start = o.x
    }
    end = Math.max(end, o.x + o.width)
  }
  blocked.fill(1, row + start, row + end)
  return count + end - start
}

/** Fills one row from the running count of covering obstacles per column; returns the tiles blocked. */
function * fillCounted (blocked: Uint8Array, row: number, edges: Int32Array, width: number): Work<number> {
  let count = 0
  let depth = 0
  let start = 0
  for (let x = 0; x <= width; x++) {
    if (x % PIECE === PIECE - 1) yield
    const before = depth
    depth += edges[x] as number
    if (before === 0 && depth > 0) start = x
    else if (before > 0 && depth === 0) {
      blocked.fill(1, row + start, row + x)
      count += x - start
    }
  }
  return count
}
