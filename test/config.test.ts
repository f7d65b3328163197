import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { EnvSchema, loadConfig, loadSigningKey } from '../src/config.js'
import { identityFromClaims } from '../src/identity.js'

/**
 * loadConfig merges `data` over process.env: the variables Plaza reads are taken out of process.env
 * for the test, so that the shell running the tests cannot change what they see.
 */
function cleanEnv (t: Test): void {
  const saved: Record<string, string> = {}
  for (const name of Object.keys(EnvSchema.properties)) {
    const value = process.env[name]
    if (value !== undefined) {
      saved[name] = value
      delete process.env[name]
    }
  }
  t.teardown(() => { Object.assign(process.env, saved) })
}

/** A path in the OS temp directory for dev secrets, removed when the test ends. */
function secretsFile (t: Test): string {
  const path = join(tmpdir(), `plaza-dev-${randomUUID()}.json`)
  t.teardown(() => rmSync(path, { force: true }))
  return path
}

/** The settings of a configured (non-dev) server, with a throwaway secrets file just in case. */
function configured (t: Test, env: Record<string, unknown> = {}): Record<string, unknown> {
  return { JWT_SECRET: 'secret', ADMIN_TOKEN: 'admin', DEV_SECRETS_FILE: secretsFile(t), ...env }
}

/** A fresh public key as PEM (SPKI), as an operator would put in JWT_PUBLIC_KEY. */
function publicPem (type: 'rsa' | 'ec' | 'ed25519', namedCurve = 'P-256'): string {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding, privateKeyEncoding }).publicKey
  if (type === 'ec') return generateKeyPairSync('ec', { namedCurve, publicKeyEncoding, privateKeyEncoding }).publicKey
  return generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding }).publicKey
}

/** The message loadConfig throws for `env` (or `load` throws), or undefined when it does not throw. */
function thrown (load: Record<string, unknown> | (() => unknown)): string | undefined {
  try {
    if (typeof load === 'function') load()
    else loadConfig(load)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

t.test('loadConfig fills in the defaults of PROTOCOL §8', async (t) => {
  cleanEnv(t)
  const config = loadConfig(configured(t))
  const defaults = {
    PORT: 3000,
    HOST: '0.0.0.0',
    REDIS_URL: 'redis://127.0.0.1:6379',
    KEY_PREFIX: '',
    USER_STATE_TTL_S: 3600,
    STALE_USER_MS: 300_000,
    CLEANUP_INTERVAL_MS: 30_000,
    MAX_STEP: 1,
    MAX_MOVES_PER_S: 20,
    MAX_MESSAGES_PER_S: 100,
    MAX_MESSAGE_BYTES: 4096,
    JOIN_TIMEOUT_MS: 10_000,
    WS_DIALECT: 'plaza.v1'
  }
  const picked = Object.fromEntries(Object.keys(defaults).map((name) => [name, config[name as keyof typeof defaults]]))
  t.strictSame(picked, defaults, 'every default, with its type (numbers are numbers)')
  t.equal(config.JWT_MAX_AGE_S, undefined, 'JWT_MAX_AGE_S is unset by default')
  t.equal(config.SPACES_FILE, undefined, 'SPACES_FILE is unset by default')
  t.equal(config.jwtAlgorithm, 'HS256')
  t.equal(config.jwtKey, 'secret')
  t.equal(config.adminToken, 'admin')
  t.equal(config.devMode, false)
  t.strictSame(config.generated, [])
  t.ok(typeof config.serverId === 'string' && config.serverId.length > 0, 'each server has an id')
  t.not(loadConfig(configured(t)).serverId, config.serverId, 'a different one per process start')
})

t.test('environment strings are coerced to numbers', async (t) => {
  cleanEnv(t)
  const config = loadConfig(configured(t, {
    PORT: '8080',
    USER_STATE_TTL_S: '60',
    STALE_USER_MS: '1000',
    CLEANUP_INTERVAL_MS: '500',
    MAX_STEP: '2',
    MAX_MOVES_PER_S: '5',
    MAX_MESSAGES_PER_S: '50',
    MAX_MESSAGE_BYTES: '1024',
    JOIN_TIMEOUT_MS: '2000',
    JWT_MAX_AGE_S: '300',
    HOST: '127.0.0.1',
    WS_DIALECT: 'metaverse',
    KEY_PREFIX: 'staging:'
  }))
  t.strictSame({
    PORT: config.PORT,
    USER_STATE_TTL_S: config.USER_STATE_TTL_S,
    STALE_USER_MS: config.STALE_USER_MS,
    CLEANUP_INTERVAL_MS: config.CLEANUP_INTERVAL_MS,
    MAX_STEP: config.MAX_STEP,
    MAX_MOVES_PER_S: config.MAX_MOVES_PER_S,
    MAX_MESSAGES_PER_S: config.MAX_MESSAGES_PER_S,
    MAX_MESSAGE_BYTES: config.MAX_MESSAGE_BYTES,
    JOIN_TIMEOUT_MS: config.JOIN_TIMEOUT_MS,
    JWT_MAX_AGE_S: config.JWT_MAX_AGE_S,
    HOST: config.HOST,
    WS_DIALECT: config.WS_DIALECT,
    KEY_PREFIX: config.KEY_PREFIX
  }, {
    PORT: 8080,
    USER_STATE_TTL_S: 60,
    STALE_USER_MS: 1000,
    CLEANUP_INTERVAL_MS: 500,
    MAX_STEP: 2,
    MAX_MOVES_PER_S: 5,
    MAX_MESSAGES_PER_S: 50,
    MAX_MESSAGE_BYTES: 1024,
    JOIN_TIMEOUT_MS: 2000,
    JWT_MAX_AGE_S: 300,
    HOST: '127.0.0.1',
    WS_DIALECT: 'metaverse',
    KEY_PREFIX: 'staging:'
  })
})

t.test('a value given to loadConfig wins over process.env', async (t) => {
  cleanEnv(t)
  process.env.PORT = '4444'
  t.equal(loadConfig(configured(t, { PORT: '5555' })).PORT, 5555)
})

t.test('an invalid value throws, naming the variable', async (t) => {
  cleanEnv(t)
  const cases: Array<[string, Record<string, unknown>]> = [
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '30.5' }],
    ['WS_DIALECT', { WS_DIALECT: 'x' }],
    ['WS_DIALECT', { WS_DIALECT: 'Plaza.V1' }],
    ['MAX_MESSAGE_BYTES', { MAX_MESSAGE_BYTES: '10' }],
    ['MAX_STEP', { MAX_STEP: '0' }],
    ['MAX_MOVES_PER_S', { MAX_MOVES_PER_S: 'many' }],
    ['JOIN_TIMEOUT_MS', { JOIN_TIMEOUT_MS: '' }],
    ['JWT_MAX_AGE_S', { JWT_MAX_AGE_S: '0' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }]
  ]
  for (const [name, env] of cases) {
    const message = thrown(configured(t, env))
    t.ok(message?.includes(name) === true, `${JSON.stringify(env)} throws naming ${name}: ${String(message)}`)
  }
})

t.test('JWT_SECRET and JWT_PUBLIC_KEY together are refused', async (t) => {
  cleanEnv(t)
  const message = thrown({ JWT_SECRET: 'secret', JWT_PUBLIC_KEY: publicPem('rsa'), ADMIN_TOKEN: 'admin', DEV_SECRETS_FILE: secretsFile(t) })
  t.ok(message?.includes('JWT_SECRET') === true && message.includes('JWT_PUBLIC_KEY'), `both are named: ${String(message)}`)
})

t.test('JWT_PUBLIC_KEY picks the algorithm from the key: RSA → RS256, EC P-256 → ES256', async (t) => {
  cleanEnv(t)
  const rsa = publicPem('rsa')
  const rsaConfig = loadConfig({ JWT_PUBLIC_KEY: rsa, ADMIN_TOKEN: 'admin', DEV_SECRETS_FILE: secretsFile(t) })
  t.equal(rsaConfig.jwtAlgorithm, 'RS256')
  t.equal(rsaConfig.jwtKey, rsa, 'the key is the PEM')
  t.equal(rsaConfig.devMode, false, 'a public key is not dev mode')

  const ec = publicPem('ec', 'P-256')
  t.equal(loadConfig({ JWT_PUBLIC_KEY: ec, ADMIN_TOKEN: 'admin', DEV_SECRETS_FILE: secretsFile(t) }).jwtAlgorithm, 'ES256')

  const oneLine = loadConfig({ JWT_PUBLIC_KEY: rsa.trimEnd().replaceAll('\n', '\\n'), ADMIN_TOKEN: 'admin', DEV_SECRETS_FILE: secretsFile(t) })
  t.equal(oneLine.jwtAlgorithm, 'RS256', 'a PEM with escaped newlines (one-line env files) is read too')
  t.equal(oneLine.jwtKey.trimEnd(), rsa.trimEnd(), 'and unescaped')
})

t.test('JWT_PUBLIC_KEY of another kind is refused, naming the variable', async (t) => {
  cleanEnv(t)
  const base = { ADMIN_TOKEN: 'admin', DEV_SECRETS_FILE: secretsFile(t) }
  const ed = thrown({ ...base, JWT_PUBLIC_KEY: publicPem('ed25519') })
  t.ok(ed?.includes('JWT_PUBLIC_KEY') === true, `an Ed25519 key throws: ${String(ed)}`)
  const garbage = thrown({ ...base, JWT_PUBLIC_KEY: 'not a key' })
  t.ok(garbage?.includes('JWT_PUBLIC_KEY') === true, `a non-PEM throws: ${String(garbage)}`)
  // ES256 is ECDSA over P-256 only (RFC 7518 §3.4): another curve can verify no ES256 token.
  const p384 = thrown({ ...base, JWT_PUBLIC_KEY: publicPem('ec', 'P-384') })
  t.ok(p384?.includes('JWT_PUBLIC_KEY') === true, `an EC P-384 key throws rather than being taken for ES256: ${String(p384)}`)
})

t.test('zero-config dev mode generates secrets once, keeps them in DEV_SECRETS_FILE and reuses them', async (t) => {
  cleanEnv(t)
  const file = secretsFile(t)
  const first = loadConfig({ DEV_SECRETS_FILE: file })
  t.equal(first.devMode, true, 'no JWT key configured: dev mode')
  t.strictSame([...first.generated].sort(), ['ADMIN_TOKEN', 'JWT_SECRET'], 'it says what it generated')
  t.equal(first.jwtAlgorithm, 'HS256')
  t.ok(first.jwtKey.length >= 32, 'a JWT secret of real strength')
  t.ok(first.adminToken.length >= 24, 'an admin token of real strength')
  t.not(first.jwtKey, first.adminToken, 'two different secrets')
  t.ok(existsSync(file), 'the secrets file is written')
  t.strictSame(JSON.parse(readFileSync(file, 'utf8')), { JWT_SECRET: first.jwtKey, ADMIN_TOKEN: first.adminToken }, 'with both secrets')
  t.equal(statSync(file).mode & 0o077, 0, 'readable by its owner only')
  t.strictSame(first.devSecrets, { JWT_SECRET: first.jwtKey, ADMIN_TOKEN: first.adminToken }, 'both are its own, to be printed')

  const second = loadConfig({ DEV_SECRETS_FILE: file })
  t.equal(second.devMode, true)
  t.strictSame(second.generated, [], 'nothing generated the second time')
  t.strictSame(second.devSecrets, first.devSecrets, 'still its own: printed at every start')
  t.equal(second.jwtKey, first.jwtKey, 'the same JWT secret')
  t.equal(second.adminToken, first.adminToken, 'the same admin token')

  const other = loadConfig({ DEV_SECRETS_FILE: secretsFile(t) })
  t.not(other.jwtKey, first.jwtKey, 'another machine (file) gets other secrets')
})

t.test('development mode with the operator\'s ADMIN_TOKEN: only the JWT secret is its own; the token is never kept or printed', async (t) => {
  cleanEnv(t)
  const file = secretsFile(t)
  const config = loadConfig({ ADMIN_TOKEN: 'operator-admin-token', DEV_SECRETS_FILE: file })
  t.equal(config.devMode, true)
  t.equal(config.adminToken, 'operator-admin-token')
  t.strictSame(config.generated, ['JWT_SECRET'])
  t.strictSame(config.devSecrets, { JWT_SECRET: config.jwtKey }, 'the operator\'s token is not among the values printed')
  t.strictSame(JSON.parse(readFileSync(file, 'utf8')), { JWT_SECRET: config.jwtKey }, 'nor written to the file')
})

t.test('outside development mode a missing ADMIN_TOKEN stops the start, naming it; nothing is generated or written', async (t) => {
  cleanEnv(t)
  for (const env of [{ JWT_SECRET: 'configured-secret' }, { JWT_PUBLIC_KEY: publicPem('rsa') }]) {
    const file = secretsFile(t)
    const message = thrown({ ...env, DEV_SECRETS_FILE: file })
    t.match(message, /ADMIN_TOKEN/, `${Object.keys(env)[0]} without ADMIN_TOKEN: ${String(message)}`)
    t.notOk(message?.includes('configured-secret'), 'the message holds no secret')
    t.notOk(existsSync(file), 'no secrets file is written')
  }
  const full = secretsFile(t)
  const both = loadConfig({ JWT_SECRET: 'configured-secret', ADMIN_TOKEN: 'configured-admin', DEV_SECRETS_FILE: full })
  t.equal(both.devMode, false)
  t.strictSame(both.generated, [])
  t.strictSame(both.devSecrets, {}, 'nothing of its own to print')
  t.equal(both.adminToken, 'configured-admin')
  t.notOk(existsSync(full), 'with everything configured no secrets file is written')
})

t.test('NODE_ENV=production: no development mode; a JWT key and an ADMIN_TOKEN of 32 bytes or more are required', async (t) => {
  cleanEnv(t)
  const strong = 'x'.repeat(32)
  const production = (env: Record<string, unknown>) => ({ NODE_ENV: 'production', DEV_SECRETS_FILE: secretsFile(t), ...env })
  const cases: Array<[Record<string, unknown>, RegExp[]]> = [
    [{}, [/JWT_SECRET or JWT_PUBLIC_KEY/, /ADMIN_TOKEN/]],
    [{ ADMIN_TOKEN: strong }, [/JWT_SECRET or JWT_PUBLIC_KEY/]],
    [{ JWT_SECRET: strong }, [/ADMIN_TOKEN/]],
    [{ JWT_SECRET: 'y'.repeat(31), ADMIN_TOKEN: strong }, [/JWT_SECRET is shorter than 32 bytes/]],
    [{ JWT_SECRET: strong, ADMIN_TOKEN: 'z'.repeat(31) }, [/ADMIN_TOKEN is shorter than 32 bytes/]],
    [{ JWT_PUBLIC_KEY: publicPem('ec'), ADMIN_TOKEN: 'short' }, [/ADMIN_TOKEN is shorter than 32 bytes/]]
  ]
  for (const [env, named] of cases) {
    const message = thrown(production(env))
    for (const pattern of named) t.match(message, pattern, `${JSON.stringify(Object.keys(env))} refused: ${String(message)}`)
    t.notOk(message?.includes('yyyy') || message?.includes('zzzz') || message?.includes(strong), 'no value is in the message')
  }
  t.equal(loadConfig(production({ JWT_SECRET: 'é'.repeat(16), ADMIN_TOKEN: strong })).jwtKey, 'é'.repeat(16), 'bytes are counted, not characters')
  const file = secretsFile(t)
  const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: strong, ADMIN_TOKEN: strong, DEV_SECRETS_FILE: file })
  t.strictSame({ devMode: config.devMode, guestAuth: config.guestAuth, devSecrets: config.devSecrets }, { devMode: false, guestAuth: false, devSecrets: {} },
    'no development mode, no guest sign-in, nothing of its own')
  t.notOk(existsSync(file), 'no secrets file')
  t.equal(loadConfig(production({ JWT_SECRET: strong, ADMIN_TOKEN: strong, GUEST_AUTH: 'true' })).guestAuth, true, 'guests only when GUEST_AUTH=true')
  t.equal(loadConfig({ NODE_ENV: 'development', DEV_SECRETS_FILE: secretsFile(t) }).devMode, true, 'any other NODE_ENV leaves development mode as it is')
})

t.test('npm run token signs with the key a server of the same environment verifies with', async (t) => {
  cleanEnv(t)
  t.equal(loadSigningKey({ JWT_SECRET: 'configured-secret' }), 'configured-secret', 'JWT_SECRET, without needing ADMIN_TOKEN')
  const file = secretsFile(t)
  const key = loadSigningKey({ DEV_SECRETS_FILE: file })
  t.equal(loadConfig({ DEV_SECRETS_FILE: file }).jwtKey, key, 'in development mode, the secret the server then reads back')
  const production = secretsFile(t)
  t.match(thrown(() => loadSigningKey({ NODE_ENV: 'production', DEV_SECRETS_FILE: production })), /JWT_SECRET/, 'in production nothing is made up')
  t.notOk(existsSync(production), 'nor written')
  t.match(thrown(() => loadSigningKey({ JWT_PUBLIC_KEY: publicPem('rsa') })), /JWT_PUBLIC_KEY/, 'a public key signs nothing')
})

t.test('identityFromClaims reads userId (or sub) and username', async (t) => {
  t.strictSame(identityFromClaims({ userId: 'alice', username: 'Alice' }), { userId: 'alice', username: 'Alice' })
  t.strictSame(identityFromClaims({ userId: 'alice' }), { userId: 'alice', username: 'alice' }, 'username falls back to the userId')
  t.strictSame(identityFromClaims({ userId: 42, role: 'user' }), { userId: '42', username: '42' }, 'a numeric userId is its decimal string (2d-metaverse {userId, role})')
  t.strictSame(identityFromClaims({ userId: 0 }), { userId: '0', username: '0' }, 'even 0')
  t.strictSame(identityFromClaims({ userId: -(2 ** 53 - 1) }), { userId: '-9007199254740991', username: '-9007199254740991' }, 'safe integers to ±(2^53 − 1)')
  t.strictSame(identityFromClaims({ sub: 'bob' }), { userId: 'bob', username: 'bob' }, 'sub where userId is absent')
  t.strictSame(identityFromClaims({ sub: 7, username: 'Seven' }), { userId: '7', username: 'Seven' }, 'a numeric sub')
  t.strictSame(identityFromClaims({ userId: 'alice', sub: 'bob' }), { userId: 'alice', username: 'alice' }, 'userId wins over sub')
  t.strictSame(identityFromClaims({ userId: 'alice', username: '' }), { userId: 'alice', username: 'alice' }, 'an empty username falls back')
  t.strictSame(identityFromClaims({ userId: 'alice', username: '   ' }), { userId: 'alice', username: 'alice' }, 'a blank username falls back')
  t.strictSame(identityFromClaims({ userId: 'alice', username: 12 }), { userId: 'alice', username: 'alice' }, 'a non-string username falls back')

  for (const claims of [{}, { role: 'user' }, { username: 'nobody' }, { userId: '' }, { userId: null }, { userId: {} }, { userId: ['a'] },
    { userId: true }, { userId: Number.NaN }, { userId: Number.POSITIVE_INFINITY }, { sub: '' }, { userId: '', username: 'x' }, null, undefined, 'alice', 42,
    // Not safe integers (PROTOCOL §3.1): digits lost in parsing, or not an id at all.
    { userId: 2 ** 53 }, { userId: -(2 ** 53) }, { userId: 1e21 }, { userId: 1.5 }, { sub: 2 ** 53 + 2 }]) {
    t.equal(identityFromClaims(claims), undefined, `${JSON.stringify(claims) ?? String(claims)} names nobody`)
  }
})

t.test('TRUST_PROXY takes the addresses or CIDR ranges of proxies only, never a hop count or "true" (PROTOCOL §8)', async (t) => {
  const trustProxy = (value: string) => loadConfig({ JWT_SECRET: 's', ADMIN_TOKEN: 'a', TRUST_PROXY: value }).trustProxy
  t.equal(trustProxy(''), false)
  t.equal(trustProxy('false'), false)
  t.same(trustProxy('10.0.0.1, 10.1.0.0/16'), ['10.0.0.1', '10.1.0.0/16'])
  t.same(trustProxy('::1,fd00::/8'), ['::1', 'fd00::/8'], 'IPv6 too')
  // A hop count or true trusts whoever connects: a client that reaches Plaza directly picks its address.
  for (const value of ['1', '2', 'true', '10.0.0.1,1', 'proxy.internal', 'loopback', '10.0.0.0/33', '10.0.0.0/8/1', 'fd00::/129', '10.0.0.0/']) {
    t.match(thrown({ JWT_SECRET: 's', ADMIN_TOKEN: 'a', TRUST_PROXY: value }), /TRUST_PROXY/, `${JSON.stringify(value)} is refused, naming TRUST_PROXY`)
  }
})

t.test('GUEST_AUTH: on by default only in development mode; never with JWT_PUBLIC_KEY', async (t) => {
  cleanEnv(t)
  t.equal(loadConfig({ DEV_SECRETS_FILE: secretsFile(t) }).guestAuth, true, 'zero-config: the demo page can sign guests in')
  t.equal(loadConfig({ DEV_SECRETS_FILE: secretsFile(t), GUEST_AUTH: 'false' }).guestAuth, false)
  t.equal(loadConfig(configured(t)).guestAuth, false, 'a configured server hands out no tokens unless told')
  t.equal(loadConfig(configured(t, { GUEST_AUTH: 'true' })).guestAuth, true)
  t.equal(loadConfig(configured(t)).GUEST_TOKEN_TTL_S, 86_400)
  const message = thrown({ JWT_PUBLIC_KEY: publicPem('rsa'), ADMIN_TOKEN: 'admin', DEV_SECRETS_FILE: secretsFile(t), GUEST_AUTH: 'true' })
  t.ok(message?.includes('GUEST_AUTH') === true, `refused, naming the variable: ${String(message)}`)
  t.match(thrown(configured(t, { GUEST_AUTH: 'maybe' })), /GUEST_AUTH/)
})

t.test('the Redis target: one server, or the Sentinels of a primary, parsed once', async (t) => {
  t.same(loadConfig(configured(t)).redis, { kind: 'server', url: 'redis://127.0.0.1:6379' }, 'none set: the Redis on this machine')
  t.same(loadConfig(configured(t, { REDIS_URL: '  ' })).redis, { kind: 'server', url: 'redis://127.0.0.1:6379' }, 'an empty REDIS_URL counts as unset')
  t.same(loadConfig(configured(t, { REDIS_URL: 'redis://r.example:6380/2' })).redis, { kind: 'server', url: 'redis://r.example:6380/2' })
  const sentinel = loadConfig(configured(t, {
    REDIS_URL: '',
    REDIS_SENTINELS: ' s1.example:26380 , [fd00::7]:26381,s3.example,, ',
    REDIS_SENTINEL_NAME: 'plaza-primary',
    REDIS_USERNAME: 'plaza',
    REDIS_PASSWORD: 'pw'
  })).redis
  t.same(sentinel, {
    kind: 'sentinel',
    sentinels: [{ host: 's1.example', port: 26380 }, { host: 'fd00::7', port: 26381 }, { host: 's3.example', port: 26379 }],
    name: 'plaza-primary',
    username: 'plaza',
    password: 'pw'
  }, 'host:port, [IPv6]:port and a bare host (port 26379); spaces and empty entries skipped')
  t.match(loadConfig(configured(t, { REDIS_SENTINELS: 's1:26379' })).redis, { kind: 'sentinel', name: 'mymaster' }, 'REDIS_SENTINEL_NAME defaults to mymaster')

  const refusals: Array<[Record<string, unknown>, RegExp]> = [
    [{ REDIS_SENTINELS: ' , ' }, /REDIS_SENTINELS names no Sentinel/],
    [{ REDIS_SENTINELS: 's1:0' }, /"s1:0" is not host:port/],
    [{ REDIS_SENTINELS: 's1:70000' }, /"s1:70000" is not host:port/],
    [{ REDIS_SENTINELS: 's1:port' }, /"s1:port" is not host:port/],
    [{ REDIS_SENTINELS: 'fd00::7:26379' }, /is not host:port/],
    [{ REDIS_URL: 'redis://h:6379', REDIS_SENTINELS: 's1:26379' }, /REDIS_URL and REDIS_SENTINELS are set together/],
    [{ REDIS_URL: 'redis://h:6379', REDIS_PASSWORD: 'pw' }, /REDIS_PASSWORD apply to REDIS_SENTINELS only/],
    [{ REDIS_USERNAME: 'u' }, /REDIS_USERNAME apply to REDIS_SENTINELS only/]
  ]
  for (const [env, message] of refusals) t.match(thrown(configured(t, env)), message, JSON.stringify(env))
})
