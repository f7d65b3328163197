import fastifyJwt from '@fastify/jwt'
import fp from 'fastify-plugin'

/**
 * @fastify/jwt with the algorithm pinned to the configured key (HS256 for JWT_SECRET, RS256 or ES256
 * for JWT_PUBLIC_KEY), so `none` and algorithm confusion never verify.
 */
export default fp(async function jwt (fastify) {
  const { config } = fastify
  const maxAge = config.JWT_MAX_AGE_S
  // A configured audience or issuer must be there, not only match when it is.
  const requiredClaims = [
    ...(maxAge !== undefined ? ['exp', 'iat'] : []),
    ...(config.JWT_AUDIENCE !== undefined ? ['aud'] : []),
    ...(config.JWT_ISSUER !== undefined ? ['iss'] : [])
  ]
  await fastify.register(fastifyJwt, {
    secret: config.jwtAlgorithm === 'HS256' ? config.jwtKey : { public: config.jwtKey },
    verify: {
      algorithms: [config.jwtAlgorithm],
      clockTolerance: config.JWT_CLOCK_TOLERANCE_S * 1000,
      // Without a max age, tokens without `exp` verify (2d-metaverse backends issue such tokens).
      ...(maxAge !== undefined ? { maxAge: maxAge * 1000 } : {}),
      ...(requiredClaims.length > 0 ? { requiredClaims } : {}),
      ...(config.JWT_AUDIENCE !== undefined ? { allowedAud: config.JWT_AUDIENCE } : {}),
      ...(config.JWT_ISSUER !== undefined ? { allowedIss: config.JWT_ISSUER } : {})
    },
    sign: { algorithm: config.jwtAlgorithm }
  })
}, { name: 'jwt', dependencies: ['config'] })
