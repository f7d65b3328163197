import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Redis, Result } from 'ioredis'
import { projectRoot } from '../util/project-root.js'

/** A stream entry as XRANGE answers it: its id and its fields as a flat name/value list. */
export type StreamEntry = [id: string, fields: string[]]

/** Plaza's Lua scripts as commands of an ioredis client; each script's file says its keys and arguments. */
declare module 'ioredis' {
  interface RedisCommander<Context> {
    plazaClaimAndRead: (numberOfKeys: number, keys: string[], args: Array<string | number>) => Result<[Array<string | null>, string[][], number[]], Context>
    plazaWriteSpaces: (numberOfKeys: number, keys: string[], args: Array<string | number>) => Result<number[], Context>
    plazaDisown: (owners: string, userId: string, serverId: string) => Result<number, Context>
    plazaSweepStale: (numberOfKeys: number, keys: string[], args: Array<string | number>) => Result<string[], Context>
    plazaReapServer: (numberOfKeys: number, keys: string[], args: Array<string | number>) => Result<string[], Context>
    plazaPutSpace: (spaces: string, spaceId: string, definition: string, maxSpaces: number) => Result<number, Context>
    plazaChatAppend: (stream: string, ...args: Array<string | number>) => Result<string[], Context>
    plazaChatRestore: (stream: string, ids: string, ...args: Array<string | number>) => Result<number, Context>
    plazaChatPage: (stream: string, ids: string, before: string, count: number) => Result<StreamEntry[] | null, Context>
    plazaAnalyticsAdd: (day: string, expireAt: number, ...fieldsAndIncrements: Array<string | number>) => Result<number, Context>
    plazaAnalyticsPeak: (day: string, owners: string, expireAt: number) => Result<number, Context>
    plazaAnalyticsUniques: (set: string, hll: string, expireAt: number, setLimit: number, ...userIds: string[]) => Result<number, Context>
  }
}

/** Each script's file, and its number of keys where fixed (the others take it as their first argument). */
const SCRIPTS = {
  plazaClaimAndRead: { file: 'claim-and-read.lua' },
  plazaWriteSpaces: { file: 'write-spaces.lua' },
  plazaDisown: { file: 'disown.lua', numberOfKeys: 1 },
  plazaSweepStale: { file: 'sweep-stale.lua' },
  plazaReapServer: { file: 'reap-server.lua' },
  plazaPutSpace: { file: 'put-space.lua', numberOfKeys: 1 },
  plazaChatAppend: { file: 'chat-append.lua', numberOfKeys: 1 },
  plazaChatRestore: { file: 'chat-restore.lua', numberOfKeys: 2 },
  plazaChatPage: { file: 'chat-page.lua', numberOfKeys: 2 },
  plazaAnalyticsAdd: { file: 'analytics-add.lua', numberOfKeys: 1 },
  plazaAnalyticsPeak: { file: 'analytics-peak.lua', numberOfKeys: 2 },
  plazaAnalyticsUniques: { file: 'analytics-uniques.lua', numberOfKeys: 2 }
} as const satisfies Record<string, { file: string, numberOfKeys?: number }>

/**
 * What a client should leave out of auto-pipelining (ioredis's `autoPipeliningIgnoredCommands`): a
 * claim call batches the joins of its moment already, and goes at once rather than a turn later.
 */
export const UNPIPELINED_COMMANDS = ['plazaClaimAndRead']

/** Beside this module (the build copies them into dist/), else in the sources (a bare tsc build). */
function scriptPath (file: string): string {
  const beside = fileURLToPath(new URL(file, import.meta.url))
  return existsSync(beside) ? beside : join(projectRoot, 'src', 'scripts', file)
}

const defined = new WeakSet<Redis>()
let sources: Array<{ name: string, lua: string, numberOfKeys?: number }> | undefined

/** Defines Plaza's scripts on a client, once per client; ioredis loads each into Redis on first use. */
export function definePlazaScripts (redis: Redis): Redis {
  if (defined.has(redis)) return redis
  sources ??= Object.entries(SCRIPTS).map(([name, { file, ...rest }]) => ({ name, lua: readFileSync(scriptPath(file), 'utf8'), ...rest }))
  for (const { name, ...definition } of sources) redis.defineCommand(name, definition)
  defined.add(redis)
  return redis
}
