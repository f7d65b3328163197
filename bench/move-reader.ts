/**
 * Reads a move broadcast, `{"type":"<moved>","payload":{"userId":"<prefix><index>","x":<int>,"y":<int>}}`,
 * straight from the received bytes: most frames a generator receives are these, and JSON.parse of
 * each would cost it the CPU it shares with the server. Anything not in exactly that shape is left
 * to JSON.parse.
 */
export class MoveReader {
  /** The sender's index, and where it moved, after a `read` that returned true. */
  index = 0
  x = 0
  y = 0
  readonly #head: Buffer
  readonly #idPrefix: Buffer
  #int = 0

  constructor (movedType: string, userIdPrefix: string) {
    this.#head = Buffer.from(`{"type":"${movedType}","payload":{"userId":"`)
    this.#idPrefix = Buffer.from(userIdPrefix)
  }

  /** True when buf[start, end) is a move of that shape; `index`, `x` and `y` then say what it holds. */
  read (buf: Buffer, start: number, end: number): boolean {
    let i = matches(buf, start, end, this.#head)
    i = matches(buf, i, end, this.#idPrefix)
    if (i < 0) return false
    let index = 0
    let digits = 0
    for (; i < end; i++) {
      const c = buf[i] as number
      if (c === 0x22) break
      if (c < 0x30 || c > 0x39) return false
      index = index * 10 + (c - 0x30)
      digits++
    }
    if (digits === 0 || i >= end) return false
    i = this.#integer(buf, matches(buf, i + 1, end, X), end)
    const x = this.#int
    i = this.#integer(buf, matches(buf, i, end, Y), end)
    if (i < 0 || i >= end || buf[i] !== 0x7d) return false
    this.index = index
    this.x = x
    this.y = this.#int
    return true
  }

  /** Reads a decimal integer, maybe negative, at buf[at…] into #int; where it ends, or -1 when there is none. */
  #integer (buf: Buffer, at: number, end: number): number {
    if (at < 0) return -1
    let i = at
    const negative = buf[i] === 0x2d
    if (negative) i++
    let n = 0
    const first = i
    for (; i < end; i++) {
      const c = buf[i] as number
      if (c < 0x30 || c > 0x39) break
      n = n * 10 + (c - 0x30)
    }
    if (i === first) return -1
    this.#int = negative ? -n : n
    return i
  }
}

const X = Buffer.from(',"x":')
const Y = Buffer.from(',"y":')

/** Where `needle` ends when buf[at…] starts with it, else -1 (also for an `at` of -1). */
export function matches (buf: Buffer, at: number, end: number, needle: Buffer): number {
  const n = needle.length
  if (at < 0 || at + n > end) return -1
  for (let j = 0; j < n; j++) if (buf[at + j] !== needle[j]) return -1
  return at + n
}
