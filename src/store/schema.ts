import type { Store } from './env.js'
import { STORE_SCHEMA_VERSION } from './env.js'
import { VigilError } from '../errors.js'

/**
 * The store's schema version lives in `meta` under `schema:version`. A store written before the
 * version existed (or by an older layout) is rebuilt from its stored inventories
 * (assess/rebuild.ts); a store written by newer code is refused, never misread.
 *
 * History:
 * - 3 — findings are grouped by advisory: [advisory id, group no] → the advisory part of the
 *   finding and the variant ids it holds for (store/finding-groups.ts); no per-variant index: a
 *   variant's findings are read by the advisory ids compiled under its keys, plus `departed-ids`
 *   (ids that left a key's list and whose findings the next re-assessment of the key removes;
 *   store/advisory-ids.ts).
 * - 2 — images hold their segments (the runs of packages each layer gave them, shared between
 *   images); packages are stored without their layer; postings are [key, variant, package] and
 *   multiply out through package → segments → images (packed id lists); findings are stored per
 *   (advisory id, variant); a per-variant index lists them.
 * - 1 — images hold an ImageRecord (header + package ids), findings are stored per variant,
 *   postings are dupSort (key, variant, package) → image ids.
 * - before 1 ("0") — images held whole Inventory objects and nothing else was derived.
 * Any older store is rebuilt from its inventories (assess/rebuild.ts reads schema 1 records).
 */
export const SCHEMA_KEY = 'schema:version'
export const REBUILD_KEY = 'schema:rebuild'

export type SchemaState = 'current' | 'empty' | 'old' | 'rebuilding'

export function readSchemaVersion(store: Store): number | undefined {
  const v = store.meta.get(SCHEMA_KEY)
  return typeof v === 'number' ? v : undefined
}

/** Throws ERR_STORE_SCHEMA for a store newer than this code; otherwise says what it needs. */
export function schemaState(store: Store): SchemaState {
  const version = readSchemaVersion(store)
  if (version !== undefined && version > STORE_SCHEMA_VERSION) {
    throw new VigilError(
      'ERR_STORE_SCHEMA',
      `the store at ${store.path} has schema version ${version}, newer than this vigil understands (${STORE_SCHEMA_VERSION}); upgrade vigil or point --data at another directory`,
      { details: { found: version, supported: STORE_SCHEMA_VERSION } },
    )
  }
  if (store.meta.get(REBUILD_KEY) !== undefined) return 'rebuilding'
  if (version === STORE_SCHEMA_VERSION) return 'current'
  if (version === undefined && isEmpty(store)) return 'empty'
  return 'old'
}

export function writeSchemaVersion(store: Store): void {
  store.meta.putSync(SCHEMA_KEY, STORE_SCHEMA_VERSION)
}

function isEmpty(store: Store): boolean {
  for (const _ of store.images.getKeys({ limit: 1 })) return false
  return true
}
