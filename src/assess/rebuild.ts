import type { Store } from '../store/env.js'
import type { Inventory } from '../types.js'
import { REBUILD_KEY, schemaState, writeSchemaVersion } from '../store/schema.js'
import { readInventory, type ImageRecord } from '../store/images.js'
import { indexImages, type IndexOptions } from './index-image.js'

/**
 * Brings a store to the current schema: nothing for a current or empty one, a rebuild of the
 * derived index (variants, postings, findings) from the stored inventories for an older one,
 * ERR_STORE_SCHEMA for a newer one. The rebuild is resumable: its marker is written together
 * with the reset, and each batch converts images that still hold a whole inventory.
 */
export function ensureSchema(store: Store, opts: IndexOptions = {}): 'current' | 'created' | 'rebuilt' {
  const state = schemaState(store)
  if (state === 'current') return 'current'
  if (state === 'empty') {
    store.root.transactionSync(() => writeSchemaVersion(store))
    return 'created'
  }
  rebuildIndex(store, opts)
  return 'rebuilt'
}

const BATCH = 200

function isWholeInventory(value: unknown): value is Inventory {
  return !!value && typeof value === 'object' && Array.isArray((value as Inventory).packages) && !!(value as Inventory).image
}

/** Re-derives everything from the inventories (after a schema change or on demand). */
export function rebuildIndex(store: Store, opts: IndexOptions = {}): { images: number } {
  if (store.meta.get(REBUILD_KEY) === undefined) {
    store.root.transactionSync(() => {
      // Turn indexed images back into whole inventories before the variants they name are cleared.
      for (const { key, value } of store.images.getRange({})) {
        if (isWholeInventory(value)) continue
        const inv = (value as ImageRecord).packages ? readInventory(store, String(key)) : undefined
        if (inv) store.images.putSync(String(key), inv)
        else store.images.removeSync(key)
      }
      for (const db of [store.postings, store.packages, store.packageIds, store.variants, store.variantIds, store.findings, store.findingRefs]) db.clearSync()
      store.meta.putSync(REBUILD_KEY, { startedAt: new Date().toISOString() })
    })
  }
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
