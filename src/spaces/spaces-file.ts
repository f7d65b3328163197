import { readFileSync } from 'node:fs'
import { defineSpace, type SpaceDefinition, type SpaceInput } from './space.js'

/**
 * Reads SPACES_FILE: a JSON array of `{id, width, height, obstacles?}`. Throws naming the file and
 * the entry at fault, so that a bad file stops the server at start rather than half-loading.
 */
export function readSpacesFile (file: string): SpaceDefinition[] {
  let entries: unknown
  try {
    entries = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`SPACES_FILE ${file}: ${(err as Error).message}`)
  }
  if (!Array.isArray(entries)) throw new Error(`SPACES_FILE ${file}: expected a JSON array of spaces`)
  return entries.map((entry: unknown, i) => {
    const { id, ...input } = (typeof entry === 'object' && entry !== null ? entry : {}) as { id?: unknown } & SpaceInput
    const definition = defineSpace(String(id), input)
    if (typeof definition === 'string') throw new Error(`SPACES_FILE ${file}: entry ${i} (${String(id)}): ${definition}`)
    return definition
  })
}
