import type { Store } from '../store/env.js'
import type { Inventory } from '../types.js'
import { REBUILD_KEY, schemaState, writeSchemaVersion } from '../store/schema.js'
import { decodeIds, forgetCachedRecords, readInventory, readPackage } from '../store/images.js'
import { indexImages, type IndexOptions } from './index-image.js'
import { POSTING_COUNT, keysReadBackSplit } from '../store/postings.js'
import { queueWork } from './delta.js'
import { beginIndexWrite } from '../store/segments.js'
import { bumpFindingsGeneration } from '../store/finding-groups.js'

/**
 * Brings a store to the current schema: nothing for a current or empty one, a rebuild of the
 * derived index (variants, postings, findings) from the stored inventories for an older one,
 * ERR_STORE_SCHEMA for a newer one. The rebuild is resumable: its marker is written together
 * with the reset, and each batch converts images that still hold a whole inventory.
 */
export function ensureSchema(store: Store, opts: IndexOptions = {}): 'current' | 'created' | 'rebuilt' {
  const state = schemaState(store)
  if (state === 'current') {
    repairLongPostingKeys(store)
    return 'current'
  }
  if (state === 'empty') {
    store.root.transactionSync(() => {
      writeSchemaVersion(store)
      markLongKeysRepaired(store)
    })
    return 'created'
  }
  rebuildIndex(store, opts)
  markLongKeysRepaired(store)
  return 'rebuilt'
}

/**
 * Until store/postings.ts readPostingKey, the postings of a package name long enough that lmdb-js
 * reads its key back split (past ~60 characters: Go module paths, long Maven coordinates) were
 * misread, and feed deltas skipped those packages: their images can hold findings of advisories
 * that changed since. Once per store, the keys whose postings read back split are queued for a
 * whole re-match of every variant under them, which the next re-assessment (a delta, an import,
 * the daemon's start) carries out. The schema is unchanged: nothing stored was wrong but findings.
 */
const LONG_KEYS_REPAIRED = 'repair:long-posting-keys'

function repairLongPostingKeys(store: Store): void {
  if (store.meta.get(LONG_KEYS_REPAIRED) !== undefined) return
  const keys = keysReadBackSplit(store)
  store.root.transactionSync(() => {
    queueWork(store, 'keys', keys)
    markLongKeysRepaired(store)
  })
}

/** A new or rebuilt store has nothing to repair; a repaired one is not repaired again. */
function markLongKeysRepaired(store: Store): void {
  store.meta.putSync(LONG_KEYS_REPAIRED, new Date().toISOString())
}

const BATCH = 200

function derivedDatabases(store: Store) {
  return [
    store.postings, store.segments, store.segmentIds, store.segmentImages, store.packageSegments,
    store.packages, store.packageIds, store.variants, store.variantIds, store.findings, store.departed,
  ]
}

function isWholeInventory(value: unknown): value is Inventory {
  return !!value && typeof value === 'object' && Array.isArray((value as Inventory).packages) && !!(value as Inventory).image
}

/** Schema 1 kept an image as its header plus package ids (the packages database is unchanged). */
interface ImageRecordV1 {
  v: 1
  image: Inventory['image']
  os?: Inventory['os']
  analyzerSet: string
  createdAt: string
  packages: Uint8Array
}

/** The whole inventory of an indexed image of any schema, before the derived databases are cleared. */
function inventoryOf(store: Store, digest: string, value: unknown): Inventory | undefined {
  const v1 = value as ImageRecordV1
  if (v1 && v1.v === 1 && v1.packages instanceof Uint8Array) {
    const packages = decodeIds(v1.packages).map((id) => readPackage(store, id)?.pkg)
    if (packages.some((p) => p === undefined)) return undefined
    const inv: Inventory = { v: 1, image: v1.image, packages: packages as Inventory['packages'], analyzerSet: v1.analyzerSet, createdAt: v1.createdAt }
    if (v1.os) inv.os = v1.os
    return inv
  }
  return readInventory(store, digest)
}

/** Databases of older schemas that the current one no longer uses. */
const RETIRED = [
  { name: 'postings', dupSort: true, encoding: 'binary' as const },
  { name: 'finding-refs', dupSort: true, encoding: 'binary' as const },
  // Schema 2's findings, one per [advisory id, variant], and their [variant, advisory id] index
  // (store/finding-groups.ts and store/advisory-ids.ts say why they went).
  { name: 'findings' },
  { name: 'finding-index', encoding: 'binary' as const },
]

/** Re-derives everything from the inventories (after a schema change or on demand). */
export function rebuildIndex(store: Store, opts: IndexOptions = {}): { images: number } {
  if (store.meta.get(REBUILD_KEY) === undefined) {
    store.root.transactionSync(() => {
      // Turn indexed images back into whole inventories before the variants they name are cleared.
      for (const { key, value } of store.images.getRange({})) {
        if (isWholeInventory(value)) continue
        const inv = inventoryOf(store, String(key), value)
        if (inv) store.images.putSync(String(key), inv)
        else store.images.removeSync(key)
      }
      // Other processes' kept image lists see the generation move and drop them.
      beginIndexWrite(store)
      for (const db of derivedDatabases(store)) db.clearSync()
      bumpFindingsGeneration(store)
      store.meta.removeSync(POSTING_COUNT)
      store.meta.putSync(REBUILD_KEY, { startedAt: new Date().toISOString() })
    })
  }
  // Ids restart from the counters, but nothing cached for the cleared records may be read again.
  forgetCachedRecords(store)
  for (const retired of RETIRED) store.root.openDB(retired).dropSync()
  const todo: string[] = []
  for (const { key, value } of store.images.getRange({})) if (isWholeInventory(value)) todo.push(String(key))
  for (let i = 0; i < todo.length; i += BATCH) {
    const entries = todo.slice(i, i + BATCH).map((digest) => ({ inventory: store.images.get(digest) as Inventory }))
    indexImages(store, entries, opts)
  }
  store.root.transactionSync(() => {
    writeSchemaVersion(store)
    store.meta.removeSync(REBUILD_KEY)
  })
  return { images: todo.length }
}
