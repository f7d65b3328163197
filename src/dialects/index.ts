import type { ServerEvent } from '../events.js'
import type { Dialect } from '../protocol.js'
import { encodeMetaverse } from './metaverse.js'
import { encodePlazaV1 } from './plaza-v1.js'

/** A dialect's codec: the wire frame for an event, or undefined when its clients are not told. */
export type Codec = (event: ServerEvent) => string | undefined

export const codecs: Record<Dialect, Codec> = {
  'plaza.v1': encodePlazaV1,
  metaverse: encodeMetaverse
}

/**
 * One event on its way to many recipients: each dialect's frame is encoded at most once, however
 * many connections speak it, and into UTF-8 bytes once too (a string would be converted again by
 * every socket it is written to).
 */
export class Broadcast {
  readonly #event: ServerEvent
  // One slot per dialect, filled on first use; `null` means "not encoded yet".
  #plaza: Buffer | undefined | null = null
  #metaverse: Buffer | undefined | null = null

  constructor (event: ServerEvent) {
    this.#event = event
  }

  frameFor (dialect: Dialect): Buffer | undefined {
    if (dialect === 'plaza.v1') {
      if (this.#plaza === null) this.#plaza = bytesOf(codecs[dialect](this.#event))
      return this.#plaza
    }
    if (this.#metaverse === null) this.#metaverse = bytesOf(codecs[dialect](this.#event))
    return this.#metaverse
  }
}

const bytesOf = (frame: string | undefined): Buffer | undefined => frame === undefined ? undefined : Buffer.from(frame)
