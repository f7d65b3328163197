import t from 'tap'
import type { Test } from 'tap'
import { Space, isSpaceId, now, spaceFromInput, type Obstacle, type SpaceDefinition, type SpaceInput, type SpaceLimits } from '../src/spaces/space.js'

/** The defaults of MAX_OBSTACLES_PER_SPACE and MAX_SPACE_CELLS. */
const LIMITS: SpaceLimits = { maxObstacles: 10_000, maxCells: 1_048_576 }
const { maxObstacles: MAX_OBSTACLES, maxCells: MAX_CELLS } = LIMITS

/** A deterministic random in [0, 1) (mulberry32), so that every run probes the same tiles. */
function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let r = Math.imul(a ^ (a >>> 15), 1 | a)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

/** Random sources that stress the edges: always the first tile, always the last, and seeded ones. */
const randoms: Array<[string, () => () => number]> = [
  ['random() = 0', () => () => 0],
  ['random() just below 1', () => () => 1 - Number.EPSILON],
  ['seed 1', () => seeded(1)],
  ['seed 42', () => seeded(42)]
]

const space = (width: number, height: number, obstacles: Array<Partial<Obstacle> & { x: number, y: number }> = []): Space =>
  new Space({ id: 's', width, height, obstacles: obstacles.map((o) => ({ width: 1, height: 1, ...o })) })

/** Builds from unchecked input, failing the test if it is refused. */
function defined (t: Test, id: string, input: SpaceInput): SpaceDefinition {
  const result = now(spaceFromInput(id, input, LIMITS))
  if (typeof result === 'string') {
    t.fail(`spaceFromInput refused ${JSON.stringify(input)}: ${result}`)
    throw new Error(result)
  }
  return result.definition
}

t.test('a valid definition is normalized', async (t) => {
  t.strictSame(defined(t, 'room', { width: 10, height: 5 }), { id: 'room', width: 10, height: 5, obstacles: [] },
    'obstacles default to none')
  t.strictSame(defined(t, 'room', {
    width: 10,
    height: 5,
    obstacles: [{ x: 0, y: 0 }, { x: 2, y: 1, width: 3 }, { x: 9, y: 0, height: 5 }, { x: 0, y: 4, width: 10, height: 1 }]
  }).obstacles, [
    { x: 0, y: 0, width: 1, height: 1 },
    { x: 2, y: 1, width: 3, height: 1 },
    { x: 9, y: 0, width: 1, height: 5 },
    { x: 0, y: 4, width: 10, height: 1 }
  ], 'obstacle width and height default to 1; obstacles touching the far edges are inside')
  const extra = { width: 3, height: 3, obstacles: [{ x: 1, y: 1, colour: 'red' }] } as unknown as SpaceInput
  t.strictSame(defined(t, 'room', extra).obstacles, [{ x: 1, y: 1, width: 1, height: 1 }], 'fields the protocol does not name are dropped')
  t.strictSame(defined(t, 'room', { width: 2, height: 1, obstacles: [{ x: 0, y: 0 }, { x: 0, y: 0 }] }).obstacles.length, 2,
    'overlapping obstacles are allowed while a tile stays free')
  t.strictSame(defined(t, 'big', { width: 1024, height: 1024 }).width, 1024, `1024x1024 is ${MAX_CELLS} tiles, as many as a space may have`)
  t.strictSame(defined(t, 'long', { width: MAX_CELLS, height: 1 }).width, MAX_CELLS, 'a side may be as long as the tiles allow')
  t.strictSame(defined(t, 'tiny', { width: 1, height: 1 }), { id: 'tiny', width: 1, height: 1, obstacles: [] }, 'a 1x1 space is fine')
  t.strictSame(defined(t, 'A-z_0.9', { width: 1, height: 1 }).id, 'A-z_0.9', 'ids may use A-Z a-z 0-9 _ . -')
  t.strictSame(defined(t, 'i'.repeat(128), { width: 1, height: 1 }).id.length, 128, 'ids may be 128 characters long')
})

t.test('an invalid definition is refused with a message saying what is wrong', async (t) => {
  const cases: Array<[string, string, unknown, string]> = [
    ['an empty id', '', { width: 5, height: 5 }, 'space id must be 1-128 characters'],
    ['an id with a space', 'a b', { width: 5, height: 5 }, 'space id'],
    ['an id with a slash', 'a/b', { width: 5, height: 5 }, 'space id'],
    ['an id with a non-ASCII letter', 'café', { width: 5, height: 5 }, 'space id'],
    ['an id of 129 characters', 'i'.repeat(129), { width: 5, height: 5 }, 'space id'],
    ['width 0', 'r', { width: 0, height: 5 }, `width must be an integer from 1 to ${MAX_CELLS}`],
    ['a negative width', 'r', { width: -3, height: 5 }, 'width must be'],
    [`width ${MAX_CELLS + 1}`, 'r', { width: MAX_CELLS + 1, height: 1 }, 'width must be'],
    ['1025x1024 tiles', 'r', { width: 1025, height: 1024 }, `a 1025x1024 space has 1049600 tiles, more than the ${MAX_CELLS} a space may have (MAX_SPACE_CELLS)`],
    ['a fractional width', 'r', { width: 2.5, height: 5 }, 'width must be'],
    ['a string width', 'r', { width: '5', height: 5 }, 'width must be'],
    ['a NaN width', 'r', { width: Number.NaN, height: 5 }, 'width must be'],
    ['a missing width', 'r', { height: 5 }, 'width must be'],
    ['height 0', 'r', { width: 5, height: 0 }, `height must be an integer from 1 to ${MAX_CELLS}`],
    ['a fractional height', 'r', { width: 5, height: 1.5 }, 'height must be'],
    ['a missing height', 'r', { width: 5 }, 'height must be'],
    ['an Infinity height', 'r', { width: 5, height: Number.POSITIVE_INFINITY }, 'height must be'],
    ['an obstacle with a negative x', 'r', { width: 5, height: 5, obstacles: [{ x: -1, y: 0 }] }, 'obstacles[0] needs integer x, y >= 0'],
    ['an obstacle with a negative y', 'r', { width: 5, height: 5, obstacles: [{ x: 0, y: 0 }, { x: 0, y: -2 }] }, 'obstacles[1] needs integer x, y >= 0'],
    ['an obstacle with a fractional x', 'r', { width: 5, height: 5, obstacles: [{ x: 0.5, y: 0 }] }, 'obstacles[0] needs'],
    ['an obstacle without y', 'r', { width: 5, height: 5, obstacles: [{ x: 1 }] }, 'obstacles[0] needs'],
    ['an obstacle of width 0', 'r', { width: 5, height: 5, obstacles: [{ x: 1, y: 1, width: 0 }] }, 'width, height >= 1'],
    ['an obstacle of negative height', 'r', { width: 5, height: 5, obstacles: [{ x: 1, y: 1, height: -1 }] }, 'width, height >= 1'],
    ['an obstacle starting right of the space', 'r', { width: 5, height: 4, obstacles: [{ x: 5, y: 0 }] }, 'obstacles[0] (5, 0, 1x1) extends outside the 5x4 space'],
    ['an obstacle starting below the space', 'r', { width: 5, height: 4, obstacles: [{ x: 0, y: 4 }] }, 'obstacles[0] (0, 4, 1x1) extends outside the 5x4 space'],
    ['an obstacle too wide', 'r', { width: 5, height: 4, obstacles: [{ x: 1, y: 1 }, { x: 3, y: 0, width: 3 }] }, 'obstacles[1] (3, 0, 3x1) extends outside'],
    ['an obstacle too tall', 'r', { width: 5, height: 4, obstacles: [{ x: 0, y: 2, height: 3 }] }, 'obstacles[0] (0, 2, 1x3) extends outside'],
    ['one obstacle covering every tile', 'r', { width: 3, height: 2, obstacles: [{ x: 0, y: 0, width: 3, height: 2 }] }, 'obstacles cover every tile'],
    ['obstacles covering every tile together', 'r', { width: 2, height: 2, obstacles: [{ x: 0, y: 0, width: 2 }, { x: 0, y: 1 }, { x: 1, y: 1 }] }, 'obstacles cover every tile'],
    ['a 1x1 space under an obstacle', 'r', { width: 1, height: 1, obstacles: [{ x: 0, y: 0 }] }, 'obstacles cover every tile'],
    [`${MAX_OBSTACLES + 1} obstacles`, 'r', { width: 200, height: 200, obstacles: Array.from({ length: MAX_OBSTACLES + 1 }, (_, i) => ({ x: i % 200, y: Math.floor(i / 200) })) }, `${MAX_OBSTACLES + 1} obstacles, more than the ${MAX_OBSTACLES} a space may have (MAX_OBSTACLES_PER_SPACE)`]
  ]
  for (const [what, id, input, message] of cases) {
    const result = now(spaceFromInput(id, input as SpaceInput, LIMITS))
    t.equal(typeof result, 'string', `${what} is refused`)
    t.ok(typeof result === 'string' && result.includes(message), `${what}: "${typeof result === 'string' ? result : 'accepted'}" says "${message}"`)
  }
  const justEnough = now(spaceFromInput('r', { width: 200, height: 200, obstacles: Array.from({ length: MAX_OBSTACLES }, (_, i) => ({ x: i % 200, y: Math.floor(i / 200) })) }, LIMITS))
  t.equal(typeof justEnough, 'object', `${MAX_OBSTACLES} obstacles are accepted`)
  const oneFree = now(spaceFromInput('r', { width: 2, height: 2, obstacles: [{ x: 0, y: 0, width: 2 }, { x: 0, y: 1 }] }, LIMITS))
  t.equal(typeof oneFree, 'object', 'a single free tile is enough')
})

t.test('isSpaceId follows PROTOCOL §7: 1-128 of A-Z a-z 0-9 _ . -', async (t) => {
  for (const id of ['a', 'Z', '0', '_', '.', '-', 'abc123', 'my.space_1-B', 'x'.repeat(128)]) t.ok(isSpaceId(id), `${JSON.stringify(id)} is an id`)
  for (const id of ['', 'x'.repeat(129), 'a b', 'a/b', 'a:b', 'a*', 'ü', 'a\n', '\na', 'a\u0000', 42, null, undefined, ['a']]) {
    t.notOk(isSpaceId(id), `${JSON.stringify(id) ?? String(id)} is not an id`)
  }
})

t.test('isWalkable: inside the space and off every obstacle', async (t) => {
  // 4x3 with a 2x2 block at (1,0) and a single tile at (3,2).
  const s = space(4, 3, [{ x: 1, y: 0, width: 2, height: 2 }, { x: 3, y: 2 }])
  const blocked = new Set(['1,0', '2,0', '1,1', '2,1', '3,2'])
  for (let y = 0; y < 3; y++) {
    for (let x = 0; x < 4; x++) {
      t.equal(s.isWalkable(x, y), !blocked.has(`${x},${y}`), `(${x}, ${y}) ${blocked.has(`${x},${y}`) ? 'is an obstacle' : 'is free'}`)
    }
  }
  // Outside, including coordinates that would alias to a free tile of another row.
  for (const [x, y] of [[-1, 0], [-1, 1], [4, 0], [4, 1], [0, -1], [0, 3], [5, 5], [-1, -1], [0, 100]] as const) {
    t.notOk(s.isWalkable(x, y), `(${x}, ${y}) is outside`)
  }
  t.equal(s.freeTileCount, 7, 'freeTileCount counts the free tiles')
  t.equal(space(3, 3, [{ x: 0, y: 0, width: 2, height: 2 }, { x: 1, y: 1, width: 2, height: 2 }]).freeTileCount, 2,
    'overlapping obstacles are counted once')
})

t.test('the bitmap agrees with a tile-by-tile fill on random layouts, few obstacles to a row or many', async (t) => {
  const random = seeded(7)
  const below = (n: number): number => Math.floor(random() * n)
  let mismatches = 0
  for (let layout = 0; layout < 400; layout++) {
    const width = 1 + below(layout % 2 === 0 ? 40 : 200)
    const height = 1 + below(40)
    // Some layouts have a handful of obstacles a row (merged in x order), others hundreds (counted per column).
    const count = below(layout % 4 === 0 ? 400 : 8)
    const obstacles = Array.from({ length: count }, () => {
      const x = below(width)
      const y = below(height)
      return { x, y, width: 1 + below(width - x), height: 1 + below(height - y) }
    })
    const expected = new Uint8Array(width * height)
    for (const o of obstacles) {
      for (let y = o.y; y < o.y + o.height; y++) expected.fill(1, y * width + o.x, y * width + o.x + o.width)
    }
    const s = space(width, height, obstacles)
    let free = 0
    for (let tile = 0; tile < expected.length; tile++) {
      const x = tile % width
      const y = (tile - x) / width
      if (expected[tile] === 0) free++
      if (s.isBlocked(x, y) !== (expected[tile] === 1)) mismatches++
    }
    if (s.freeTileCount !== free) t.fail(`layout ${layout}: ${s.freeTileCount} free tiles, not ${free}`)
  }
  t.equal(mismatches, 0, 'every tile of every layout is as a tile-by-tile fill has it')
})

t.test('judgeStep: out-of-bounds, then not-adjacent, then blocked; only the target tile counts', async (t) => {
  // 6x6 with obstacles at (2,1) and (3,3).
  const s = space(6, 6, [{ x: 2, y: 1 }, { x: 3, y: 3 }])
  const cases: Array<[string, [number, number, number, number], number, string | undefined]> = [
    ['a step right', [1, 2, 2, 2], 1, undefined],
    ['a step left', [1, 2, 0, 2], 1, undefined],
    ['a step up', [1, 2, 1, 1], 1, undefined],
    ['a step down', [1, 2, 1, 3], 1, undefined],
    ['a step off the left edge', [0, 0, -1, 0], 1, 'out-of-bounds'],
    ['a step off the top edge', [0, 0, 0, -1], 1, 'out-of-bounds'],
    ['a step off the right edge', [5, 5, 6, 5], 1, 'out-of-bounds'],
    ['a step off the bottom edge', [5, 5, 5, 6], 1, 'out-of-bounds'],
    ['a far jump outside: out-of-bounds before not-adjacent', [2, 2, 40, 40], 1, 'out-of-bounds'],
    ['a jump outside from the edge: out-of-bounds before not-adjacent', [0, 0, -3, 0], 1, 'out-of-bounds'],
    ['distance 0', [1, 2, 1, 2], 1, 'not-adjacent'],
    ['distance 0 with MAX_STEP 2', [1, 2, 1, 2], 2, 'not-adjacent'],
    ['distance 0 while standing on an obstacle: not-adjacent before blocked', [2, 1, 2, 1], 1, 'not-adjacent'],
    ['a diagonal with MAX_STEP 1', [1, 2, 2, 3], 1, 'not-adjacent'],
    ['two tiles with MAX_STEP 1', [0, 0, 2, 0], 1, 'not-adjacent'],
    ['a jump onto an obstacle: not-adjacent before blocked', [0, 1, 2, 1], 1, 'not-adjacent'],
    ['a far jump onto an obstacle', [5, 5, 3, 3], 1, 'not-adjacent'],
    ['a step onto an obstacle', [1, 1, 2, 1], 1, 'blocked'],
    ['a step onto an obstacle from below', [3, 4, 3, 3], 1, 'blocked'],
    ['a step off an obstacle (only the target counts)', [2, 1, 2, 2], 1, undefined],
    ['a diagonal with MAX_STEP 2', [1, 2, 2, 3], 2, undefined],
    ['a diagonal onto an obstacle with MAX_STEP 2', [2, 2, 3, 3], 2, 'blocked'],
    ['two tiles straight with MAX_STEP 2', [0, 0, 2, 0], 2, undefined],
    ['over an obstacle with MAX_STEP 2 (the path does not count)', [1, 1, 3, 1], 2, undefined],
    ['three tiles with MAX_STEP 2', [0, 0, 2, 1], 2, 'not-adjacent'],
    ['out of bounds with MAX_STEP 2', [0, 0, -1, -1], 2, 'out-of-bounds']
  ]
  for (const [what, [fx, fy, x, y], maxStep, expected] of cases) {
    t.equal(s.judgeStep(fx, fy, x, y, maxStep), expected, `${what}: (${fx},${fy}) → (${x},${y}), MAX_STEP ${maxStep} → ${expected ?? 'allowed'}`)
  }
})

t.test('judgeStep agrees with PROTOCOL §3.1 for every step on a small space', async (t) => {
  const obstacles = [{ x: 1, y: 1 }, { x: 2, y: 3, width: 2 }]
  const s = space(4, 4, obstacles)
  const isObstacle = (x: number, y: number): boolean =>
    obstacles.some((o) => x >= o.x && x < o.x + (o.width ?? 1) && y === o.y)
  let mismatches = 0
  let checked = 0
  for (const maxStep of [1, 2, 3]) {
    for (let fy = 0; fy < 4; fy++) {
      for (let fx = 0; fx < 4; fx++) {
        for (let y = -2; y < 6; y++) {
          for (let x = -2; x < 6; x++) {
            const distance = Math.abs(x - fx) + Math.abs(y - fy)
            const expected = x < 0 || y < 0 || x >= 4 || y >= 4
              ? 'out-of-bounds'
              : distance === 0 || distance > maxStep
                ? 'not-adjacent'
                : isObstacle(x, y) ? 'blocked' : undefined
            const actual = s.judgeStep(fx, fy, x, y, maxStep)
            checked++
            if (actual !== expected) {
              mismatches++
              if (mismatches <= 5) t.fail(`(${fx},${fy}) → (${x},${y}) MAX_STEP ${maxStep}: ${String(actual)}, expected ${String(expected)}`)
            }
          }
        }
      }
    }
  }
  t.equal(mismatches, 0, `all ${checked} steps judged as PROTOCOL says`)
})

/** What PROTOCOL §4 allows pickSpawn to return, from the most to the least preferred. */
function spawnClasses (s: Space, occupied: ReadonlySet<number>): { roomy: Set<number>, free: Set<number>, walkable: Set<number> } {
  const free = new Set<number>()
  const walkable = new Set<number>()
  for (let y = 0; y < s.height; y++) {
    for (let x = 0; x < s.width; x++) {
      if (!s.isWalkable(x, y)) continue
      walkable.add(y * s.width + x)
      if (!occupied.has(y * s.width + x)) free.add(y * s.width + x)
    }
  }
  const isFree = (x: number, y: number): boolean => x >= 0 && y >= 0 && x < s.width && y < s.height && free.has(y * s.width + x)
  const roomy = new Set([...free].filter((tile) => {
    const x = tile % s.width
    const y = Math.floor(tile / s.width)
    return isFree(x + 1, y) && isFree(x - 1, y) && isFree(x, y + 1) && isFree(x, y - 1)
  }))
  return { roomy, free, walkable }
}

t.test('pickSpawn prefers a tile whose four neighbours are free, then any free tile, then any walkable one', async (t) => {
  const open = space(5, 5)
  for (const [name, make] of randoms) {
    const spawn = open.pickSpawn(new Set(), make())
    t.ok(spawn.x >= 1 && spawn.x <= 3 && spawn.y >= 1 && spawn.y <= 3, `${name}: an open space spawns off the border (${spawn.x}, ${spawn.y})`)
  }

  // 5x5 with one roomy tile left: (3,3). Everything else either touches the border, an obstacle or a user.
  const crowded = space(5, 5, [{ x: 1, y: 1, width: 2, height: 2 }])
  const users = new Set([1 * 5 + 3]) // a user at (3,1)
  for (const [name, make] of randoms) {
    t.strictSame(crowded.pickSpawn(users, make()), { x: 3, y: 3 }, `${name}: the only roomy tile is found`)
  }

  // A 4x1 corridor has no roomy tile (up and down are outside): any free tile, never the occupied one.
  const corridor = space(4, 1, [{ x: 3, y: 0 }])
  const seen = new Set<string>()
  const random = seeded(7)
  for (let i = 0; i < 200; i++) {
    const spawn = corridor.pickSpawn(new Set([1]), random)
    seen.add(`${spawn.x},${spawn.y}`)
  }
  t.strictSame([...seen].sort(), ['0,0', '2,0'], 'the two free tiles of the corridor, and only they, are used')

  // Everything occupied: users may share a tile, but never an obstacle.
  const full = space(3, 1, [{ x: 1, y: 0 }])
  for (const [name, make] of randoms) {
    const spawn = full.pickSpawn(new Set([0, 2]), make())
    t.ok(spawn.y === 0 && (spawn.x === 0 || spawn.x === 2), `${name}: with every tile taken, a walkable tile is shared (${spawn.x}, ${spawn.y})`)
  }
  t.strictSame(space(1, 1).pickSpawn(new Set([0]), seeded(3)), { x: 0, y: 0 }, 'a 1x1 space always spawns on its tile')
})

t.test('pickSpawn is random: over many spawns an open space uses many tiles', async (t) => {
  const s = space(8, 8)
  const random = seeded(2024)
  const tiles = new Set<string>()
  for (let i = 0; i < 500; i++) {
    const { x, y } = s.pickSpawn(new Set(), random)
    tiles.add(`${x},${y}`)
  }
  t.equal(tiles.size, 36, 'every one of the 36 inner tiles of an open 8x8 space is used')
})

t.test('pickSpawn, exhaustively on a 3x3 space: every obstacle layout and every set of occupied tiles', async (t) => {
  const width = 3
  const height = 3
  const tiles = width * height
  let layouts = 0
  let failures = 0
  const fail = (message: string): void => {
    failures++
    if (failures <= 10) t.fail(message)
  }
  for (let obstacleMask = 0; obstacleMask < (1 << tiles) - 1; obstacleMask++) {
    const obstacles: Array<{ x: number, y: number }> = []
    for (let tile = 0; tile < tiles; tile++) if ((obstacleMask & (1 << tile)) !== 0) obstacles.push({ x: tile % width, y: Math.floor(tile / width) })
    const s = space(width, height, obstacles)
    const walkableTiles = [...Array(tiles).keys()].filter((tile) => (obstacleMask & (1 << tile)) === 0)
    // Every subset of the walkable tiles as the occupied ones (plus an occupied obstacle tile, which changes nothing).
    for (let occupiedMask = 0; occupiedMask < 1 << walkableTiles.length; occupiedMask++) {
      const occupied = new Set(walkableTiles.filter((_, i) => (occupiedMask & (1 << i)) !== 0))
      if (obstacleMask !== 0) occupied.add(Math.log2(obstacleMask & -obstacleMask))
      const { roomy, free, walkable } = spawnClasses(s, occupied)
      const allowed = roomy.size > 0 ? roomy : free.size > 0 ? free : walkable
      const kind = roomy.size > 0 ? 'a roomy tile' : free.size > 0 ? 'a free tile' : 'a walkable tile'
      for (const [name, make] of randoms) {
        layouts++
        const spawn = s.pickSpawn(occupied, make())
        const tile = spawn.y * width + spawn.x
        if (!Number.isInteger(spawn.x) || !Number.isInteger(spawn.y) || !s.inBounds(spawn.x, spawn.y)) {
          fail(`obstacles ${obstacleMask.toString(2)}, occupied [${[...occupied].join(',')}], ${name}: (${spawn.x}, ${spawn.y}) is outside`)
        } else if (s.isBlocked(spawn.x, spawn.y)) {
          fail(`obstacles ${obstacleMask.toString(2)}, occupied [${[...occupied].join(',')}], ${name}: (${spawn.x}, ${spawn.y}) is an obstacle`)
        } else if (!allowed.has(tile)) {
          fail(`obstacles ${obstacleMask.toString(2)}, occupied [${[...occupied].join(',')}], ${name}: (${spawn.x}, ${spawn.y}) is not ${kind}`)
        }
      }
    }
  }
  t.equal(failures, 0, `${layouts} spawns, each on the most preferred kind of tile available, none on an obstacle`)
})

t.test('pickSpawn on a crowded 20x20 space without a roomy tile still finds the free tiles', async (t) => {
  // Obstacles on every other column leave one-tile-wide corridors: no tile has four free neighbours.
  const obstacles: Array<{ x: number, y: number, height: number }> = []
  for (let x = 1; x < 20; x += 2) obstacles.push({ x, y: 0, height: 20 })
  const s = space(20, 20, obstacles)
  const occupied = new Set<number>()
  for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x += 2) if (!(x === 10 && y === 7)) occupied.add(y * 20 + x)
  for (const [name, make] of randoms) {
    t.strictSame(s.pickSpawn(occupied, make()), { x: 10, y: 7 }, `${name}: the single free tile is found`)
  }
})
