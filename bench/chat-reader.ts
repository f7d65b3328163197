/**
 * Reads a chat broadcast of the generator's own chats,
 * `{"type":"chat-message","payload":{"id":"<id>","userId":"<prefix><index>","username":…,"text":"#<k> …",…}}`,
 * from the received bytes without JSON.parse: which user sent it, and which of its chats it is (the
 * number the generator put at the start of the text). Anything not in that shape is left to JSON.parse.
 */
import { matches } from './move-reader.js'

/** The start of every chat text the generator sends: `#<k> `, k counting the sender's chats from 0. */
export const CHAT_MARK = '#'

export class ChatReader {
  /** The sender's index, and the number of its chat, after a `read` that returned true. */
  index = 0
  k = 0
  readonly #idPrefix: Buffer

  constructor (userIdPrefix: string) {
    this.#idPrefix = Buffer.from(`","userId":"${userIdPrefix}`)
  }

  /** True when buf[start, end) is a chat-message of that shape; `index` and `k` then say whose and which. */
  read (buf: Buffer, start: number, end: number): boolean {
    let i = matches(buf, start, end, HEAD)
    if (i < 0) return false
    // A message id (a stream id, or a server's own) holds no quote.
    i = buf.indexOf(0x22, i)
    if (i < 0 || i >= end) return false
    i = matches(buf, i, end, this.#idPrefix)
    if (i < 0) return false
    const index = digits(buf, i, end)
    if (index < 0) return false
    const text = buf.indexOf(TEXT, i)
    if (text < 0 || text >= end) return false
    const k = digits(buf, text + TEXT.length, end)
    if (k < 0) return false
    this.index = index
    this.k = k
    return true
  }
}

const HEAD = Buffer.from('{"type":"chat-message","payload":{"id":"')
const TEXT = Buffer.from(`","text":"${CHAT_MARK}`)

/** The decimal number at buf[at…], or -1 when none starts there. */
function digits (buf: Buffer, at: number, end: number): number {
  let n = 0
  let i = at
  for (; i < end; i++) {
    const c = buf[i] as number
    if (c < 0x30 || c > 0x39) break
    n = n * 10 + (c - 0x30)
  }
  return i === at ? -1 : n
}

/** The generator's k-th chat text from a user: its number first, then 20–60 characters in all. */
export function chatText (index: number, k: number): string {
  const words = `${CHAT_MARK}${k} from walker ${index}: the plaza is busy today, see you by the fountain`
  return words.slice(0, 20 + ((index * 7 + k * 13) % 41))
}

/** The number k of a chat text of the generator's (`#k …`), or -1 for any other text. */
export function chatNumber (text: unknown): number {
  if (typeof text !== 'string' || !text.startsWith(CHAT_MARK)) return -1
  const k = Number.parseInt(text.slice(CHAT_MARK.length), 10)
  return Number.isInteger(k) && k >= 0 ? k : -1
}
