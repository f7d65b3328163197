import { createPublicKey, randomBytes, randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { envSchema } from 'env-schema'
import { Type, type Static } from 'typebox'
import { DIALECTS } from './protocol.js'

const Int = (defaultValue: number, minimum: number, maximum = Number.MAX_SAFE_INTEGER) =>
  Type.Integer({ default: defaultValue, minimum, maximum })

/** Every setting Plaza reads, with its default: PROTOCOL §8 plus Plaza's own. */
export const EnvSchema = Type.Object({
  PORT: Int(3000, 0, 65535),
  HOST: Type.String({ default: '0.0.0.0' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' }
  ),
  /** About how long a log line may wait to be written with others (0: each line as it is logged). */
  LOG_FLUSH_MS: Int(100, 0, 60_000),
  /** One Redis server; `redis://127.0.0.1:6379` when none of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES is set. */
  REDIS_URL: Type.Optional(Type.String()),
  /** `host:port,host:port,...`: the Sentinels that watch the primary named REDIS_SENTINEL_NAME. */
  REDIS_SENTINELS: Type.Optional(Type.String()),
  REDIS_SENTINEL_NAME: Type.String({ default: 'mymaster', minLength: 1 }),
  /** Redis Cluster (PROTOCOL §12): accepted here so that setting it stops the start with a clear word. */
  REDIS_CLUSTER_NODES: Type.Optional(Type.String()),
  /** For the nodes found through Sentinel (with REDIS_URL they go in the URL). */
  REDIS_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_COMMAND_TIMEOUT_MS: Int(1000, 10),
  REDIS_CONNECT_TIMEOUT_MS: Int(2000, 10),
  KEY_PREFIX: Type.String({ default: '', maxLength: 128 }),
  SERVER_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** `production` ends development mode and asks for strong secrets (PROTOCOL §8); nothing else reads it. */
  NODE_ENV: Type.Optional(Type.String()),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  JWT_PUBLIC_KEY: Type.Optional(Type.String({ minLength: 1 })),
  JWT_MAX_AGE_S: Type.Optional(Type.Integer({ minimum: 1 })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  JWT_CLOCK_TOLERANCE_S: Int(0, 0, 300),
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  DEV_SECRETS_FILE: Type.String({ default: '.plaza-dev.json' }),
  WS_DIALECT: Type.Union(DIALECTS.map((d) => Type.Literal(d)), { default: 'plaza.v1' }),
  SPACES_FILE: Type.Optional(Type.String({ minLength: 1 })),
  MAX_SPACES: Int(1000, 1, 100_000),
  MAX_SPACE_CELLS: Int(1_048_576, 1, 16_777_216),
  MAX_OBSTACLES_PER_SPACE: Int(10_000, 0, 100_000),
  USER_STATE_TTL_S: Int(3600, 1),
  STALE_USER_MS: Int(300_000, 100),
  CLEANUP_INTERVAL_MS: Int(30_000, 10),
  POSITION_FLUSH_MS: Int(250, 1, 60_000),
  PING_INTERVAL_MS: Int(30_000, 10),
  MAX_STEP: Int(1, 1, 1_000),
  MAX_MOVES_PER_S: Int(20, 1),
  MAX_MESSAGES_PER_S: Int(100, 1),
  MAX_MESSAGE_BYTES: Int(4096, 256, 1_048_576),
  JOIN_TIMEOUT_MS: Int(10_000, 10),
  /** Chat (PROTOCOL §9): a message's length in code points once cleaned. */
  MAX_CHAT_CHARS: Int(500, 1, 10_000),
  /** Accepted chats per connection in a 10 s window. */
  MAX_CHATS_PER_10S: Int(10, 1, 10_000),
  /** The last messages a join's `space-joined.chat` carries. */
  CHAT_HISTORY_ON_JOIN: Int(50, 0, 1_000),
  /** About how many messages a space's history keeps (the stream is trimmed approximately). */
  CHAT_HISTORY_MAX: Int(1000, 1, 1_000_000),
  /** A space's history expires this long after its last message. */
  CHAT_TTL_S: Int(604_800, 1),
  /** Activity (PROTOCOL §10): a connected user with no activity for this long is idle. */
  IDLE_AFTER_MS: Int(60_000, 100),
  METRICS_MAX_SPACES: Int(100, 0, 100_000),
  /** Days a space's analytics of one day are kept after it ended (PROTOCOL §11). */
  ANALYTICS_RETENTION_DAYS: Int(90, 1, 36_500),
  SERVER_HEARTBEAT_MS: Int(2000, 10),
  SERVER_DEAD_AFTER_MS: Int(6000, 30),
  /** 0: no per-address limit (a whole office shares one address behind NAT). */
  MAX_CONNECTIONS_PER_IP: Int(0, 0),
  MAX_SPACES_PER_USER: Int(8, 1),
  MAX_BUFFERED_BYTES: Int(1_048_576, 1024),
  ALLOWED_ORIGINS: Type.String({ default: '' }),
  ADMIN_RATE_LIMIT_PER_MIN: Int(120, 1),
  TRUST_PROXY: Type.String({ default: '' }),
  GUEST_AUTH: Type.Optional(Type.Boolean()),
  /** The admin API's OpenAPI document and its UI at /docs (development mode unless set). */
  API_DOCS: Type.Optional(Type.Boolean()),
  GUEST_TOKEN_TTL_S: Int(86_400, 60),
  /** At shutdown, how long /readyz answers 503 before sockets are closed (the load balancer's check interval). */
  DRAIN_DELAY_MS: Int(0, 0, 600_000),
  /** At shutdown, over how long the sockets are closed, evenly (0: all at once). */
  DRAIN_SPREAD_MS: Int(0, 0, 600_000),
  /** /readyz answers 503 while the event loop's mean delay is over this (0: never for load). */
  READY_MAX_EVENT_LOOP_DELAY_MS: Int(250, 0, 60_000)
})

export type Env = Static<typeof EnvSchema>

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256'

/** The secrets development mode may make up for itself. */
export type SecretName = 'JWT_SECRET' | 'ADMIN_TOKEN'
export type DevSecrets = Partial<Record<SecretName, string>>

/** A Sentinel's address, as ioredis's `sentinels` option takes it. */
export interface HostPort {
  host: string
  port: number
}

/** Where Plaza's Redis is: one server, or a primary found through Sentinel (PROTOCOL §12). */
export type RedisTarget =
  | { kind: 'server', url: string }
  | { kind: 'sentinel', sentinels: HostPort[], name: string, username?: string, password?: string }

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'
const DEFAULT_SENTINEL_PORT = 26379

/** What the rest of Plaza sees: validated env plus what is derived from it, once. */
export interface Config extends Env {
  serverId: string
  /** The URL of the one Redis server, the default when no Redis setting is given; unused with Sentinel. */
  REDIS_URL: string
  redis: RedisTarget
  /**
   * Development mode (PROTOCOL §8): neither JWT_SECRET nor JWT_PUBLIC_KEY set, and NODE_ENV not
   * `production`. Only then are secrets made up, guests signed in by default and the demo space seeded.
   */
  devMode: boolean
  jwtKey: string
  jwtAlgorithm: JwtAlgorithm
  adminToken: string
  /**
   * The secrets in use that development mode made up (at this start, or at an earlier one and kept in
   * DEV_SECRETS_FILE): the only values the server ever prints. Never one the operator set.
   */
  devSecrets: DevSecrets
  /** Which of them were made up at this start. */
  generated: SecretName[]
  /** Origins a browser may open a WebSocket from; empty: any. */
  allowedOrigins: string[]
  /** Fastify's trustProxy: false, or the proxies' addresses and CIDR ranges. */
  trustProxy: false | string[]
  /** `POST /auth/guest` hands out tokens: GUEST_AUTH, or in development mode when it is unset. */
  guestAuth: boolean
  /** /docs serves the API's description: API_DOCS, or in development mode when it is unset. */
  apiDocs: boolean
}

/** The least a secret the operator sets must hold in production: HS256's key size (RFC 7518 §3.2). */
const MIN_SECRET_BYTES = 32

/**
 * Reads and validates the environment (or `data`, for tests), fills defaults and derives the
 * JWT settings. Throws with the offending variable named when a value is invalid, or when a
 * server outside development mode lacks a secret it must be given.
 */
export function loadConfig (data: Record<string, unknown> = process.env): Config {
  const env = readEnv(data)
  if (env.SERVER_DEAD_AFTER_MS < 2 * env.SERVER_HEARTBEAT_MS) {
    throw new Error('SERVER_DEAD_AFTER_MS must be at least twice SERVER_HEARTBEAT_MS, or live servers would take each other for dead')
  }
  if (env.USER_STATE_TTL_S * 1000 <= env.STALE_USER_MS) {
    throw new Error('USER_STATE_TTL_S must be longer than STALE_USER_MS, or ghosts would expire before they are swept (and told)')
  }
  const redis = redisTarget(env)
  const devMode = isDevMode(env)
  if (!devMode) requireSecrets(env)
  const guestAuth = env.GUEST_AUTH ?? devMode
  if (guestAuth && env.JWT_PUBLIC_KEY !== undefined) {
    throw new Error('GUEST_AUTH needs JWT_SECRET: with JWT_PUBLIC_KEY this server cannot sign guest tokens')
  }
  // Only what the operator left unset is made up, and only in development mode.
  const { secrets, generated } = devMode
    ? ownSecrets(env.DEV_SECRETS_FILE, env.ADMIN_TOKEN === undefined ? ['JWT_SECRET', 'ADMIN_TOKEN'] : ['JWT_SECRET'])
    : { secrets: {}, generated: [] }
  const adminToken = env.ADMIN_TOKEN ?? secrets.ADMIN_TOKEN
  // Not reached: requireSecrets refused it, or development mode made one up.
  if (adminToken === undefined) throw new Error('ADMIN_TOKEN is not set')

  return {
    ...env,
    REDIS_URL: redis.kind === 'server' ? redis.url : DEFAULT_REDIS_URL,
    redis,
    serverId: env.SERVER_ID ?? randomUUID(),
    devMode,
    ...jwtSettings(env, secrets.JWT_SECRET),
    adminToken,
    devSecrets: secrets,
    generated,
    allowedOrigins: env.ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter((o) => o !== ''),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    guestAuth,
    apiDocs: env.API_DOCS ?? devMode
  }
}

/**
 * The key tokens are signed with, as a server with the same environment verifies them (for
 * `npm run token`): JWT_SECRET, or in development mode the secret kept in DEV_SECRETS_FILE (made up
 * and kept there now if there is none yet). Needs no ADMIN_TOKEN.
 */
export function loadSigningKey (data: Record<string, unknown> = process.env): string {
  const env = readEnv(data)
  if (env.JWT_PUBLIC_KEY !== undefined) {
    throw new Error('JWT_PUBLIC_KEY is set: tokens are issued by whoever holds the private key, not by this command')
  }
  if (env.JWT_SECRET !== undefined) return env.JWT_SECRET
  if (!isDevMode(env)) throw new Error('JWT_SECRET is not set (NODE_ENV=production: no secret is generated)')
  return jwtSettings(env, ownSecrets(env.DEV_SECRETS_FILE, ['JWT_SECRET']).secrets.JWT_SECRET).jwtKey
}

function readEnv (data: Record<string, unknown>): Env {
  // `data` is the whole environment: env-schema would otherwise merge process.env underneath it.
  const env = envSchema<Env>({ schema: EnvSchema, data, env: false, dotenv: false })
  if (env.JWT_SECRET !== undefined && env.JWT_PUBLIC_KEY !== undefined) {
    throw new Error('Set JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256/ES256), not both')
  }
  return env
}

const isDevMode = (env: Env): boolean =>
  env.JWT_SECRET === undefined && env.JWT_PUBLIC_KEY === undefined && env.NODE_ENV !== 'production'

/**
 * Outside development mode the operator gives every secret, and in production strong ones
 * (PROTOCOL §8): throws naming each variable that falls short, never its value.
 */
function requireSecrets (env: Env): void {
  const production = env.NODE_ENV === 'production'
  const problems: string[] = []
  if (env.JWT_SECRET === undefined && env.JWT_PUBLIC_KEY === undefined) {
    problems.push('JWT_SECRET or JWT_PUBLIC_KEY is not set (no token could be verified)')
  }
  if (env.ADMIN_TOKEN === undefined) problems.push('ADMIN_TOKEN is not set (the bearer token of /admin and /metrics)')
  if (production) {
    for (const name of ['JWT_SECRET', 'ADMIN_TOKEN'] as const) {
      const value = env[name]
      if (value !== undefined && Buffer.byteLength(value) < MIN_SECRET_BYTES) problems.push(`${name} is shorter than ${MIN_SECRET_BYTES} bytes`)
    }
  }
  if (problems.length > 0) {
    const why = production
      ? `NODE_ENV=production: no secret is generated, and each must be at least ${MIN_SECRET_BYTES} bytes`
      : 'JWT_SECRET or JWT_PUBLIC_KEY is set, so this is no development mode: no secret is generated'
    throw new Error(`${problems.join('; ')} (${why})`)
  }
}

/** HS256 with JWT_SECRET (or development mode's own secret), or what JWT_PUBLIC_KEY's kind says. */
function jwtSettings (env: Env, devSecret: string | undefined): { jwtKey: string, jwtAlgorithm: JwtAlgorithm } {
  if (env.JWT_PUBLIC_KEY === undefined) {
    const jwtKey = env.JWT_SECRET ?? devSecret
    // Not reached: outside development mode requireSecrets refused it; inside, one was made up.
    if (jwtKey === undefined) throw new Error('JWT_SECRET is not set')
    return { jwtKey, jwtAlgorithm: 'HS256' }
  }
  const jwtKey = env.JWT_PUBLIC_KEY.replaceAll('\\n', '\n')
  return { jwtKey, jwtAlgorithm: algorithmOfPublicKey(jwtKey) }
}

/**
 * Development mode's own secrets, those `names`: read back from DEV_SECRETS_FILE, or made up now
 * and kept there, so that restarts and `npm run token` agree.
 */
function ownSecrets (file: string, names: SecretName[]): { secrets: DevSecrets, generated: SecretName[] } {
  const kept = readDevSecrets(file)
  const secrets: DevSecrets = {}
  const generated: SecretName[] = []
  for (const name of names) {
    const value = kept[name] ?? randomBytes(MIN_SECRET_BYTES).toString('base64url')
    if (kept[name] === undefined) generated.push(name)
    secrets[name] = value
  }
  if (generated.length > 0) writeDevSecrets(file, { ...kept, ...secrets })
  return { secrets, generated }
}

/**
 * At most one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES (each counts when set and not
 * empty); none is the Redis on this machine. Throws naming the variables when two are set, or when
 * the one set cannot be used.
 */
function redisTarget (env: Env): RedisTarget {
  const given = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((name) => (env[name] ?? '').trim() !== '')
  if (given.length > 1) {
    throw new Error(`${given.join(' and ')} are set together: set only one of REDIS_URL (one Redis server), REDIS_SENTINELS (a primary watched by Sentinel) and REDIS_CLUSTER_NODES`)
  }
  if (given[0] === 'REDIS_CLUSTER_NODES') {
    throw new Error('REDIS_CLUSTER_NODES is set, but Redis Cluster is not supported yet: use REDIS_URL (one Redis server) or REDIS_SENTINELS (a primary watched by Sentinel)')
  }
  const { REDIS_USERNAME: username, REDIS_PASSWORD: password } = env
  if (given[0] !== 'REDIS_SENTINELS') {
    const stray = [username === undefined ? [] : ['REDIS_USERNAME'], password === undefined ? [] : ['REDIS_PASSWORD']].flat()
    if (stray.length > 0) throw new Error(`${stray.join(' and ')} apply to REDIS_SENTINELS only: with one Redis server they go in REDIS_URL (redis://user:password@host:6379)`)
    return { kind: 'server', url: env.REDIS_URL?.trim() || DEFAULT_REDIS_URL }
  }
  const sentinels = (env.REDIS_SENTINELS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '').map(parseHostPort)
  if (sentinels.length === 0) throw new Error('REDIS_SENTINELS names no Sentinel; list them as host:port,host:port,...')
  return { kind: 'sentinel', sentinels, name: env.REDIS_SENTINEL_NAME, ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) }
}

/** `host:port`, `[v6]:port`, or a bare host (port 26379, Sentinel's own). */
function parseHostPort (entry: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(entry)
  const host = match?.[1] ?? match?.[2]
  const port = match?.[3] === undefined ? DEFAULT_SENTINEL_PORT : Number(match[3])
  if (host === undefined || port < 1 || port > 65535) {
    throw new Error(`REDIS_SENTINELS: ${JSON.stringify(entry)} is not host:port; list the Sentinels as host:port,host:port,...`)
  }
  return { host, port }
}

/**
 * TRUST_PROXY: the comma-separated addresses or CIDR ranges of the proxies whose X-Forwarded-For is
 * believed; empty or `false`: none. A hop count or `true` is refused: either trusts whoever
 * connects, so a client that reaches Plaza past the proxy could choose its own address.
 */
function parseTrustProxy (value: string): false | string[] {
  const v = value.trim()
  if (v === '' || v === 'false') return false
  const proxies = v.split(',').map((a) => a.trim()).filter((a) => a !== '')
  for (const proxy of proxies) {
    if (proxy === 'true' || /^\d+$/.test(proxy) || /\/0+$/.test(proxy)) {
      throw new Error(`TRUST_PROXY=${v}: ${proxy === 'true' || proxy.includes('/') ? `${proxy} trusts every hop` : 'a hop count trusts whoever connects'}, so clients could forge X-Forwarded-For; list the proxies' addresses or CIDR ranges`)
    }
    if (!isAddressOrRange(proxy)) throw new Error(`TRUST_PROXY: ${JSON.stringify(proxy)} is not an IP address or CIDR range; list the proxies' addresses or CIDR ranges`)
  }
  return proxies
}

/** `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`. */
function isAddressOrRange (value: string): boolean {
  const [address = '', bits, ...rest] = value.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))
}

/** What DEV_SECRETS_FILE holds; a file that is missing or not as written holds nothing. */
function readDevSecrets (file: string): DevSecrets {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'))
    if (typeof parsed !== 'object' || parsed === null) return {}
    const { JWT_SECRET, ADMIN_TOKEN } = parsed as Record<string, unknown>
    return {
      ...(typeof JWT_SECRET === 'string' && JWT_SECRET !== '' ? { JWT_SECRET } : {}),
      ...(typeof ADMIN_TOKEN === 'string' && ADMIN_TOKEN !== '' ? { ADMIN_TOKEN } : {})
    }
  } catch {
    return {}
  }
}

function writeDevSecrets (file: string, secrets: DevSecrets): void {
  try {
    writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 })
  } catch {
    // A read-only working directory only costs the reuse across restarts.
  }
}

function algorithmOfPublicKey (pem: string): JwtAlgorithm {
  let key: ReturnType<typeof createPublicKey>
  try {
    key = createPublicKey(pem)
  } catch (err) {
    throw new Error(`JWT_PUBLIC_KEY is not a readable PEM public key: ${(err as Error).message}`)
  }
  const type = key.asymmetricKeyType
  if (type === 'rsa') return 'RS256'
  // ES256 is ECDSA on P-256 only (RFC 7518): a key on another curve would verify nothing.
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256'
  const curve = key.asymmetricKeyDetails?.namedCurve
  throw new Error(`JWT_PUBLIC_KEY must be an RSA (RS256) or EC P-256 (ES256) key, not ${type}${curve ? ` on ${curve}` : ''}`)
}
