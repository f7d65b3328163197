/** Who a connection is, from its verified token and nothing else. */
export interface Identity {
  userId: string
  username: string
}

const MAX_ID_LENGTH = 256

/**
 * Reads the identity out of verified JWT claims: `userId` (string or number; `sub` where it is
 * absent) and an optional `username` that falls back to the userId. 2d-metaverse backends issue
 * `{userId, role}`, which reads as is. Returns undefined when the claims name nobody, a number that
 * is not a safe integer included (PROTOCOL §3.1).
 */
export function identityFromClaims (claims: unknown): Identity | undefined {
  if (typeof claims !== 'object' || claims === null) return undefined
  const { userId, sub, username } = claims as Record<string, unknown>
  // `sub` stands in only where `userId` is absent; a userId that is there but unusable names nobody.
  const id = userId === undefined || userId === null ? asId(sub) : asId(userId)
  if (id === undefined) return undefined
  const display = typeof username === 'string' && username.trim() !== '' ? username.slice(0, MAX_ID_LENGTH) : id
  return { userId: id, username: display }
}

function asId (value: unknown): string | undefined {
  // Beyond ±(2^53 − 1) JSON parsing already lost digits (…993 reads as …992): two users, one avatar.
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  if (typeof value === 'string' && value !== '' && value.length <= MAX_ID_LENGTH) return value
  return undefined
}
