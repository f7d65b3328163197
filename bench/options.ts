/**
 * `npm run bench`'s command line: the options, their defaults, and the scenarios they ask for.
 * A value out of range ends the process with the usage (exit 2).
 */
import { parseArgs } from 'node:util'
import { EnvSchema } from '../src/config.js'
import type { Dialect } from './load.js'

export const usage = `usage: npm run bench -- [--users 200] [--spaces S | --space-size 20] [--hz 10] [--chat-every S] [--duration 20] [--warmup 2]
  [--step 200,400,600] [--join-storm 2000/100 [--rejoin] [--join-concurrency K]] [--dialect plaza.v1|metaverse] [--baseline plain|cork|fastify|plain,cork,…|none]
  [--repeat 1] [--redis-url URL | --private-redis] [--out FILE] [--json FILE] [--no-plaza] [--cpu-prof DIR] [--from-source] [--no-generator-warmup]`

export type Baseline = 'plain' | 'cork' | 'fastify'

/** Plaza accepts at most MAX_CHATS_PER_10S (its default) chats per 10 s from a connection: a shorter chat interval would be refused. */
export const MIN_CHAT_EVERY_S = 10 / Number(Reflect.get(EnvSchema.properties.MAX_CHATS_PER_10S, 'default'))

export interface Scenario {
  mode: 'walk' | 'join-storm'
  users: number
  spaces: number
  hz: number
  /** A walk whose users also send a chat each, every this many seconds (plaza.v1). */
  chatEveryS?: number
  durationS: number
  warmupS: number
  /**
   * A join storm of users coming back after a network cut: measured on the same server process,
   * after the same users joined, walked for a while and all dropped.
   */
  rejoin?: boolean
  /** A join storm whose users join this many at a time, each waiting for its space-joined (0 or absent: all at once). */
  joinConcurrency?: number
}

export interface BenchOptions {
  scenarios: Scenario[]
  dialect: Dialect
  /** The spaces' size in tiles. */
  width: number
  height: number
  /** Seconds to wait after a walk's window for moves still on their way. */
  drainS: number
  /** A walk holds when its p99 is at most this (ms), everyone joined and every broadcast arrived. */
  p99Limit: number
  baselines: Baseline[]
  plaza: boolean
  /** Undefined: the default Redis, or a private one with `privateRedis`. */
  redisUrl: string | undefined
  privateRedis: boolean
  perAddress: number
  connectConcurrency: number
  repeat: number
  /** Appends the tables to this markdown file. */
  out: string | undefined
  /** Writes every figure to this file. */
  json: string | undefined
  cpuProfileDir: string | undefined
  fromSource: boolean
  generatorWarmup: boolean
}

function refuse (message: string): never {
  process.stderr.write(`${message}\n${usage}\n`)
  process.exit(2)
}

const num = (name: string, value: string | undefined, min = 0): number => {
  const n = Number(value)
  if (!Number.isFinite(n) || n < min) refuse(`--${name} must be a number ≥ ${min}`)
  return n
}

export function parseOptions (argv: string[]): BenchOptions {
  const { values: args } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string', default: '200' },
      spaces: { type: 'string' },
      'space-size': { type: 'string', default: '20' },
      width: { type: 'string', default: '20' },
      height: { type: 'string', default: '20' },
      hz: { type: 'string', default: '10' },
      'chat-every': { type: 'string' },
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '2' },
      drain: { type: 'string', default: '3' },
      dialect: { type: 'string', default: 'plaza.v1' },
      step: { type: 'string' },
      'join-storm': { type: 'string' },
      rejoin: { type: 'boolean', default: false },
      baseline: { type: 'string', default: 'plain' },
      'no-plaza': { type: 'boolean', default: false },
      'redis-url': { type: 'string' },
      'private-redis': { type: 'boolean', default: false },
      'per-address': { type: 'string', default: '50' },
      'connect-concurrency': { type: 'string', default: '200' },
      'join-concurrency': { type: 'string', default: '0' },
      'p99-limit': { type: 'string', default: '50' },
      out: { type: 'string' },
      json: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      'cpu-prof': { type: 'string' },
      'from-source': { type: 'boolean', default: false },
      'no-generator-warmup': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    }
  })
  if (args.help) {
    process.stdout.write(`${usage}\n`)
    process.exit(0)
  }

  const spaceSize = num('space-size', args['space-size'], 1)
  const width = num('width', args.width, 2)
  const height = num('height', args.height, 2)
  const p99Limit = num('p99-limit', args['p99-limit'])
  const baselines = args.baseline === 'none' ? [] : (args.baseline ?? 'plain').split(',').map((b) => b.trim())
  if (!baselines.every((b): b is Baseline => b === 'plain' || b === 'cork' || b === 'fastify')) {
    refuse('--baseline: a comma-separated list of plain, cork and fastify, or none')
  }

  const chatEveryS = args['chat-every'] === undefined ? undefined : num('chat-every', args['chat-every'], MIN_CHAT_EVERY_S)
  if (chatEveryS !== undefined) {
    if (args.dialect === 'metaverse') refuse('--chat-every: metaverse has no chat (PROTOCOL §9); chats are sent in plaza.v1 only')
    if (args['join-storm'] !== undefined && args.step === undefined) refuse('--chat-every is about walks: nobody chats in a join storm')
  }

  const scenarios: Scenario[] = []
  const walkOf = (users: number): Scenario => ({
    mode: 'walk',
    users,
    spaces: args.spaces !== undefined ? num('spaces', args.spaces, 1) : Math.ceil(users / spaceSize),
    hz: num('hz', args.hz),
    ...(chatEveryS !== undefined ? { chatEveryS } : {}),
    durationS: num('duration', args.duration),
    warmupS: num('warmup', args.warmup)
  })
  if (args['join-storm'] !== undefined) {
    const [u, s] = args['join-storm'].split('/')
    const users = num('join-storm', u, 1)
    const joinConcurrency = num('join-concurrency', args['join-concurrency'])
    if (!Number.isInteger(joinConcurrency)) refuse('--join-concurrency is a number of users: a whole one')
    const storm: Scenario = {
      mode: 'join-storm',
      users,
      spaces: s !== undefined ? num('join-storm', s, 1) : Math.ceil(users / spaceSize),
      hz: 0,
      durationS: 0,
      warmupS: 0,
      ...(joinConcurrency > 0 ? { joinConcurrency } : {})
    }
    scenarios.push(storm)
    if (args.rejoin) scenarios.push({ ...storm, rejoin: true })
  } else if (args.rejoin || args['join-concurrency'] !== '0') {
    refuse('--rejoin and --join-concurrency are about join storms: they go with --join-storm')
  }
  if (args.step !== undefined) {
    for (const u of args.step.split(',')) scenarios.push(walkOf(num('step', u, 1)))
  } else if (args['join-storm'] === undefined) {
    scenarios.push(walkOf(num('users', args.users, 1)))
  }

  return {
    scenarios,
    dialect: args.dialect === 'metaverse' ? 'metaverse' : 'plaza.v1',
    width,
    height,
    drainS: num('drain', args.drain),
    p99Limit,
    baselines,
    plaza: !args['no-plaza'],
    redisUrl: args['redis-url'],
    privateRedis: args['private-redis'],
    perAddress: num('per-address', args['per-address']),
    connectConcurrency: num('connect-concurrency', args['connect-concurrency'], 1),
    repeat: num('repeat', args.repeat, 1),
    out: args.out,
    json: args.json,
    cpuProfileDir: args['cpu-prof'],
    fromSource: args['from-source'],
    generatorWarmup: !args['no-generator-warmup']
  }
}
