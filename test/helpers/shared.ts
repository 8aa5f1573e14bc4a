import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project root (where package.json is). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** `../shared` beside the checkout, or $VIGIL_SHARED. */
export const SHARED = process.env.VIGIL_SHARED ?? resolve(ROOT, '..', 'shared')
export const SHARED_DATA = join(SHARED, 'data')
export const HAS_SHARED = existsSync(join(SHARED_DATA, 'PROVENANCE.md'))

export function sharedPath(...parts: string[]): string {
  return join(SHARED_DATA, ...parts)
}

/** Message printed once per file when ../shared is absent, so a skip is never silent. */
export function noteSharedMissing(what: string): void {
  if (!HAS_SHARED) console.warn(`[skip] ${what}: ../shared/data is absent (set VIGIL_SHARED to its parent folder)`)
}
