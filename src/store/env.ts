import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Database, type RootDatabase } from 'lmdb'
import { VigilError } from '../errors.js'

/**
 * One LMDB environment under the data dir. Each concern has its own named database; the module
 * that owns a concern owns its keys and values (store/images.ts, store/layer-cache.ts,
 * store/advisories.ts, ...). Values are msgpack (lmdb's default encoding).
 */
export interface Store {
  readonly path: string
  readonly root: RootDatabase
  /** schema version, feed cursors, counters */
  readonly meta: Database<unknown, string>
  /** layer digest + analyzer-set version → LayerReport */
  readonly layers: Database<unknown, string>
  /** manifest digest → Inventory */
  readonly images: Database<unknown, string>
  /** interned image ids: digest ↔ 4-byte id */
  readonly imageIds: Database<unknown, string | number>
  /** `ecosystem\0name` → (image id, version) entries, dupSort */
  readonly postings: Database<unknown, string>
  /** `ecosystem\0name` → compiled advisories affecting that package */
  readonly advisories: Database<unknown, string>
  /** advisory id → the stored record (OSV JSON after normalisation) */
  readonly advisoryRecords: Database<unknown, string>
  /** alias (CVE-…) → advisory ids */
  readonly aliases: Database<unknown, string>
  /** manifest digest → Finding[] */
  readonly findings: Database<unknown, string>
  /** CVE → { epss, percentile, kev } */
  readonly exploit: Database<unknown, string>
  close(): Promise<void>
}

/** Bump when any stored shape changes; see store/schema.ts for the migration rules. */
export const STORE_SCHEMA_VERSION = 1

export interface OpenStoreOptions {
  readonly: boolean
  /** Maximum map size in bytes; LMDB grows the file up to this. */
  mapSize: number
}

export function openStore(dataDir: string, options: Partial<OpenStoreOptions> = {}): Store {
  const path = join(dataDir, 'store')
  try {
    mkdirSync(path, { recursive: true })
    const root = open({
      path,
      maxDbs: 32,
      mapSize: options.mapSize ?? 64 * 1024 ** 3,
      readOnly: options.readonly ?? false,
      // Commits are batched by lmdb-js; durability comes from LMDB's own sync on commit.
      compression: false,
    })
    const db = (name: string, extra: Record<string, unknown> = {}) => root.openDB({ name, ...extra }) as Database<unknown, string>
    const store: Store = {
      path,
      root,
      meta: db('meta'),
      layers: db('layers'),
      images: db('images'),
      imageIds: root.openDB({ name: 'image-ids' }) as Database<unknown, string | number>,
      postings: db('postings', { dupSort: true, encoding: 'ordered-binary' }),
      advisories: db('advisories'),
      advisoryRecords: db('advisory-records'),
      aliases: db('aliases'),
      findings: db('findings'),
      exploit: db('exploit'),
      close: () => root.close(),
    }
    return store
  } catch (err) {
    throw new VigilError('ERR_STORE', `cannot open the store at ${path}: ${(err as Error).message}`, { cause: err })
  }
}
