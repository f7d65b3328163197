import type { RejectReason } from './protocol.js'

/**
 * What happened on this server, as plain numbers: cheap enough to count on the path of a move.
 * The metrics plugin reads them at scrape time.
 */
export class Counters {
  readonly joins = { new: 0, resume: 0, takeover: 0 }
  drops = 0
  leaves = 0
  readonly moves: Record<'accepted' | RejectReason, number> = {
    accepted: 0,
    'out-of-bounds': 0,
    'not-adjacent': 0,
    blocked: 0,
    'rate-limited': 0
  }

  /** Chat messages: accepted, or refused (invalid-message, rate-limited). */
  readonly chats = { accepted: 0, 'invalid-message': 0, 'rate-limited': 0 }
  messagesIn = 0
  messagesOut = 0
  staleSwept = 0
}
