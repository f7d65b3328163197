import { readFileSync } from 'node:fs'
import type { Space, SpaceInput } from './space.js'
import { type SpaceRegistry, SpacesFullError } from './space-registry.js'

/**
 * Loads SPACES_FILE, a JSON array of `{id, width, height, obstacles?}`, into the registry (and so
 * Redis), written over what was there; returns how many spaces it holds. Every entry is checked
 * against the limits before any is stored, and an error names the file and the entry at fault, so
 * that a bad file stops the server at start rather than half-loading.
 */
export async function loadSpacesFile (file: string, registry: SpaceRegistry): Promise<number> {
  let entries: unknown
  try {
    entries = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`SPACES_FILE ${file}: ${(err as Error).message}`)
  }
  if (!Array.isArray(entries)) throw new Error(`SPACES_FILE ${file}: expected a JSON array of spaces`)
  const spaces: Space[] = []
  for (const [i, entry] of entries.entries()) {
    const { id, ...input } = (typeof entry === 'object' && entry !== null ? entry : {}) as { id?: unknown } & SpaceInput
    const space = await registry.build(String(id), input)
    if (typeof space === 'string') throw new Error(`SPACES_FILE ${file}: entry ${i} (${String(id)}): ${space}`)
    spaces.push(space)
  }
  const ids = new Set(spaces.map((s) => s.id))
  const added = [...ids].filter((id) => registry.get(id) === undefined).length
  if (added > 0 && registry.size + added > registry.limits.maxSpaces) {
    throw new Error(`SPACES_FILE ${file}: its ${added} new spaces would make ${registry.size + added}, more than MAX_SPACES (${registry.limits.maxSpaces})`)
  }
  for (const space of spaces) {
    await registry.put(space).catch((err: unknown) => {
      throw err instanceof SpacesFullError ? new Error(`SPACES_FILE ${file}: ${err.message}`) : err
    })
  }
  return spaces.length
}
