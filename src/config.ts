import { createPublicKey, randomBytes, randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
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
  REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379' }),
  REDIS_COMMAND_TIMEOUT_MS: Int(1000, 10),
  REDIS_CONNECT_TIMEOUT_MS: Int(2000, 10),
  KEY_PREFIX: Type.String({ default: '', maxLength: 128 }),
  SERVER_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
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
  METRICS_MAX_SPACES: Int(100, 0, 100_000),
  SERVER_HEARTBEAT_MS: Int(2000, 10),
  SERVER_DEAD_AFTER_MS: Int(6000, 30),
  MAX_CONNECTIONS_PER_IP: Int(64, 1),
  MAX_SPACES_PER_USER: Int(8, 1),
  MAX_BUFFERED_BYTES: Int(1_048_576, 1024),
  ALLOWED_ORIGINS: Type.String({ default: '' }),
  ADMIN_RATE_LIMIT_PER_MIN: Int(120, 1),
  TRUST_PROXY: Type.String({ default: '' }),
  GUEST_AUTH: Type.Optional(Type.Boolean()),
  GUEST_TOKEN_TTL_S: Int(86_400, 60)
})

export type Env = Static<typeof EnvSchema>

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256'

/** What the rest of Plaza sees: validated env plus what is derived from it, once. */
export interface Config extends Env {
  serverId: string
  /** No JWT key was configured: secrets were generated and the demo space is seeded. */
  devMode: boolean
  jwtKey: string
  jwtAlgorithm: JwtAlgorithm
  adminToken: string
  /** Secrets this process made up, so that the server can print them once. */
  generated: Array<'JWT_SECRET' | 'ADMIN_TOKEN'>
  /** Origins a browser may open a WebSocket from; empty: any. */
  allowedOrigins: string[]
  /** Fastify's trustProxy: false, a number of hops, or the proxies' addresses. */
  trustProxy: boolean | number | string[]
  /** `POST /auth/guest` hands out tokens: GUEST_AUTH, or in development mode when it is unset. */
  guestAuth: boolean
}

/**
 * Reads and validates the environment (or `data`, for tests), fills defaults and derives the
 * JWT settings. Throws with the offending variable named when a value is invalid.
 */
export function loadConfig (data: Record<string, unknown> = process.env): Config {
  // `data` is the whole environment: env-schema would otherwise merge process.env underneath it.
  const env = envSchema<Env>({ schema: EnvSchema, data, env: false, dotenv: false })
  if (env.JWT_SECRET !== undefined && env.JWT_PUBLIC_KEY !== undefined) {
    throw new Error('Set JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256/ES256), not both')
  }
  if (env.SERVER_DEAD_AFTER_MS < 2 * env.SERVER_HEARTBEAT_MS) {
    throw new Error('SERVER_DEAD_AFTER_MS must be at least twice SERVER_HEARTBEAT_MS, or live servers would take each other for dead')
  }
  if (env.USER_STATE_TTL_S * 1000 <= env.STALE_USER_MS) {
    throw new Error('USER_STATE_TTL_S must be longer than STALE_USER_MS, or ghosts would expire before they are swept (and told)')
  }
  const devMode = env.JWT_SECRET === undefined && env.JWT_PUBLIC_KEY === undefined
  const guestAuth = env.GUEST_AUTH ?? devMode
  if (guestAuth && env.JWT_PUBLIC_KEY !== undefined) {
    throw new Error('GUEST_AUTH needs JWT_SECRET: with JWT_PUBLIC_KEY this server cannot sign guest tokens')
  }
  const generated: Config['generated'] = []
  const dev = devMode || env.ADMIN_TOKEN === undefined ? readDevSecrets(env.DEV_SECRETS_FILE) : {}

  let jwtKey: string
  let jwtAlgorithm: JwtAlgorithm = 'HS256'
  if (env.JWT_PUBLIC_KEY !== undefined) {
    jwtKey = env.JWT_PUBLIC_KEY.replaceAll('\\n', '\n')
    jwtAlgorithm = algorithmOfPublicKey(jwtKey)
  } else if (env.JWT_SECRET !== undefined) {
    jwtKey = env.JWT_SECRET
  } else {
    jwtKey = dev.JWT_SECRET ?? randomBytes(32).toString('base64url')
    if (dev.JWT_SECRET === undefined) generated.push('JWT_SECRET')
  }
  const adminToken = env.ADMIN_TOKEN ?? dev.ADMIN_TOKEN ?? randomBytes(24).toString('base64url')
  if (env.ADMIN_TOKEN === undefined && dev.ADMIN_TOKEN === undefined) generated.push('ADMIN_TOKEN')

  if (generated.length > 0) {
    writeDevSecrets(env.DEV_SECRETS_FILE, {
      ...dev,
      ...(devMode ? { JWT_SECRET: jwtKey } : {}),
      ADMIN_TOKEN: adminToken
    })
  }

  return {
    ...env,
    serverId: env.SERVER_ID ?? randomUUID(),
    devMode,
    jwtKey,
    jwtAlgorithm,
    adminToken,
    generated,
    allowedOrigins: env.ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter((o) => o !== ''),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    guestAuth
  }
}

/**
 * TRUST_PROXY: empty or `false` trusts no proxy; a number trusts that many hops; otherwise a
 * comma-separated list of the proxies' addresses or CIDR ranges. `true` (trust every hop) is
 * refused: any client could then choose its own address by sending X-Forwarded-For.
 */
function parseTrustProxy (value: string): boolean | number | string[] {
  const v = value.trim()
  if (v === '' || v === 'false') return false
  if (v === 'true') throw new Error('TRUST_PROXY=true would let clients forge their address; give the number of proxy hops or their addresses')
  if (/^\d+$/.test(v)) return Number(v)
  return v.split(',').map((a) => a.trim()).filter((a) => a !== '')
}

interface DevSecrets { JWT_SECRET?: string, ADMIN_TOKEN?: string }

/** Dev secrets persist in a git-ignored file so that restarts and `npm run token` agree. */
export function readDevSecrets (file: string): DevSecrets {
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
