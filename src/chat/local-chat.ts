import type { ChatMessage } from '../events.js'
import { getOrCreate } from '../util/maps.js'
import type { ChatDraft, ChatLink, ChatPage } from './chat-link.js'

/** Chat in one process's memory, delivered at once: for tests of the room manager and tools. */
export class LocalChat implements ChatLink {
  readonly #historyOnJoin: number
  readonly #bySpace = new Map<string, ChatMessage[]>()
  #sent = 0
  #deliver: (spaceId: string, message: ChatMessage) => void = () => {}

  constructor (historyOnJoin = 50) {
    this.#historyOnJoin = historyOnJoin
  }

  onDeliver (deliver: (spaceId: string, message: ChatMessage) => void): void {
    this.#deliver = deliver
  }

  async load (): Promise<void> {}

  recent (spaceId: string): ChatMessage[] {
    return this.#historyOnJoin === 0 ? [] : (this.#bySpace.get(spaceId) ?? []).slice(-this.#historyOnJoin)
  }

  send (spaceId: string, draft: ChatDraft): void {
    const message: ChatMessage = { id: String(++this.#sent), ...draft }
    getOrCreate(this.#bySpace, spaceId, (): ChatMessage[] => []).push(message)
    this.#deliver(spaceId, message)
  }

  async page (spaceId: string, before: string | undefined, limit: number): Promise<ChatPage | undefined> {
    const messages = this.#bySpace.get(spaceId) ?? []
    const end = before === undefined ? messages.length : messages.findIndex((m) => m.id === before)
    if (end < 0) return undefined
    return { messages: messages.slice(Math.max(0, end - limit), end), more: end > limit }
  }

  forget (): void {}
}
