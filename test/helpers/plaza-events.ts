import type { PlazaClient, PlazaClientEvents } from '../../client/index.js'

/** The next `event` of a PlazaClient whose payload satisfies `match`; rejects after `timeoutMs`. */
export function next<K extends keyof PlazaClientEvents> (client: PlazaClient, event: K, match: (p: PlazaClientEvents[K]) => boolean = () => true, timeoutMs = 5000): Promise<PlazaClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${String(event)} within ${timeoutMs} ms (status ${JSON.stringify(client.status)})`)) }, timeoutMs)
    const off = client.on(event, (payload) => {
      if (!match(payload)) return
      clearTimeout(timer)
      off()
      resolve(payload)
    })
  })
}
