import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Database, type RootDatabase } from 'lmdb'
import { VigilError } from '../errors.js'
import type { IdListDb } from './id-lists.js'

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
  /** manifest digest → ImageRecord (inventory header + package-variant ids; store/images.ts) */
  readonly images: Database<unknown, string>
  /** interned image ids: digest ↔ 4-byte id */
  readonly imageIds: Database<unknown, string | number>
  /** package id → PackageRecord (a package exactly as found, shared by every image that has it) */
  readonly packages: Database<unknown, number>
  /** content hash of a package → its id */
  readonly packageIds: Database<unknown, string>
  /** variant id → VariantRecord (what matching reads: ecosystem, name, version, source, os) */
  readonly variants: Database<unknown, number>
  /** content hash of a variant → its id */
  readonly variantIds: Database<unknown, string>
  /** [`ecosystem\0name`, variant id, package id] → empty: the packages filed under a key (store/postings.ts) */
  readonly postings: Database<Buffer, PostingKey>
  /** segment id → SegmentRecord: the packages one layer gave an image (store/segments.ts) */
  readonly segments: Database<unknown, number>
  /** content hash of a segment → its id */
  readonly segmentIds: Database<unknown, string>
  /** segment id → the images holding it, packed id lists (store/id-lists.ts) */
  readonly segmentImages: IdListDb
  /** package id → the segments holding it, packed id lists */
  readonly packageSegments: IdListDb
  /** `ecosystem\0name` → compiled advisories affecting that package */
  readonly advisories: Database<unknown, string>
  /** advisory id → the stored record (OSV JSON after normalisation) */
  readonly advisoryRecords: Database<unknown, string>
  /** alias (CVE-…) → advisory ids */
  readonly aliases: Database<unknown, string>
  /** [advisory id, group no] → the advisory part of a finding and the variants it is theirs for (store/finding-groups.ts) */
  readonly findings: Database<unknown, [string, number]>
  /** `ecosystem\0name` → ids of advisories that left the key's compiled list whose findings may still be stored (store/advisories.ts) */
  readonly departed: Database<unknown, string>
  /** CVE → { epss, percentile, kev } */
  readonly exploit: Database<unknown, string>
  close(): Promise<void>
}

/** A posting key: the store key, the variant (match identity) and the package the images hold. */
export type PostingKey = [string, number, number]

/** Bump when any stored shape changes; see store/schema.ts for the migration rules. */
export const STORE_SCHEMA_VERSION = 3

/**
 * Page size of a new store (an existing store keeps the one it was created with: LMDB reads it
 * from the file). Why not the OS's 4 KiB: every commit rewrites and checks lmdb-js's in-memory
 * free-page list, at a cost that grows with the number of free pages it holds. After an ingest
 * that list holds thousands of pages, and at 100,000 images a one-advisory delta's commit took
 * ~2.2 ms with 4 KiB pages (profiled: mostly mdb_freelist_save), ~1 ms with 8 KiB and ~0.55 ms
 * with 16 KiB, the file the same size. Larger pages also keep more values in their leaf page:
 * LMDB moves a value over about half a page to overflow pages, and a popular advisory's finding
 * group (hundreds of variant ids and the advisory's text) is such a value at 4 KiB.
 */
export const PAGE_SIZE = 16384

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
      pageSize: PAGE_SIZE,
    })
    const db = (name: string, extra: Record<string, unknown> = {}) => root.openDB({ name, ...extra }) as Database<unknown, string>
    const store: Store = {
      path,
      root,
      meta: db('meta'),
      layers: db('layers'),
      images: db('images'),
      imageIds: root.openDB({ name: 'image-ids' }) as Database<unknown, string | number>,
      packages: root.openDB({ name: 'packages' }) as Database<unknown, number>,
      packageIds: db('package-ids'),
      variants: root.openDB({ name: 'variants' }) as Database<unknown, number>,
      variantIds: db('variant-ids'),
      // Schema 1 had a dupSort `postings` database with one value per image; this one is new.
      postings: root.openDB({ name: 'key-packages', encoding: 'binary' }) as Database<Buffer, PostingKey>,
      segments: root.openDB({ name: 'segments' }) as Database<unknown, number>,
      segmentIds: db('segment-ids'),
      segmentImages: root.openDB({ name: 'segment-images', encoding: 'binary' }) as IdListDb,
      packageSegments: root.openDB({ name: 'package-segments', encoding: 'binary' }) as IdListDb,
      advisories: db('advisories'),
      advisoryRecords: db('advisory-records'),
      aliases: db('aliases'),
      // Schema 2 kept one Finding per [advisory id, variant] in `findings`; this one is new.
      findings: root.openDB({ name: 'finding-groups' }) as Database<unknown, [string, number]>,
      departed: db('departed-ids'),
      exploit: db('exploit'),
      close: () => root.close(),
    }
    // Refuse a store written by newer code before anyone reads it (store/schema.ts has the rules).
    const version = store.meta.get('schema:version')
    if (typeof version === 'number' && version > STORE_SCHEMA_VERSION) {
      void root.close()
      throw new VigilError('ERR_STORE_SCHEMA', `the store at ${path} has schema version ${version}, newer than this vigil understands (${STORE_SCHEMA_VERSION}); upgrade vigil or use another --data directory`)
    }
    return store
  } catch (err) {
    if (VigilError.is(err)) throw err
    throw new VigilError('ERR_STORE', `cannot open the store at ${path}: ${(err as Error).message}`, { cause: err })
  }
}

// errno values LMDB passes through from the file system: no space, quota, I/O, read-only.
const FS_FAULTS = new Set([28, 122, 5, 30, 'ENOSPC', 'EDQUOT', 'EIO', 'EROFS'])

/**
 * A failed store write as ERR_STORE (retryable: the data is fine, the disk is not), or the error
 * unchanged when it is not one. lmdb-js rejects a failed async commit with an error whose
 * `commitError` is a second, rejected promise holding the cause; nothing else awaits that promise,
 * and unhandled it would end the process, so it is handled here.
 */
export async function storeFault(err: unknown): Promise<unknown> {
  const commitError = (err as { commitError?: Promise<unknown> } | undefined)?.commitError
  let cause = err
  if (commitError instanceof Promise) cause = await commitError.then(() => err, (inner: unknown) => inner)
  return asStoreError(cause) ?? err
}

/** The synchronous half of storeFault: a thrown LMDB or file-system fault as ERR_STORE. */
export function asStoreError(err: unknown): VigilError | undefined {
  if (VigilError.is(err) || !(err instanceof Error)) return undefined
  const code = (err as { code?: unknown }).code as string | number | undefined
  // Faults of the environment only: a key or value LMDB refuses is the data's fault, not the disk's.
  const lmdb = /MDB_MAP_FULL|MDB_PANIC|No space left on device|Input\/output error|Commit failed/.test(err.message)
  if (!lmdb && (code === undefined || !FS_FAULTS.has(code))) return undefined
  return new VigilError('ERR_STORE', `the store could not write: ${err.message.split('\n')[0]}`, { cause: err, retryable: true })
}

/** An async store write (lmdb-js put, `flushed`) whose failure is ERR_STORE, never an unhandled rejection. */
export async function storeWrite<T>(write: Promise<T>): Promise<T> {
  try {
    return await write
  } catch (err) {
    throw await storeFault(err)
  }
}

/** A `meta` counter (id counters, generations, statistics); 0 before its first write. */
export function metaCounter(store: Store, key: string): number {
  return (store.meta.get(key) as number | undefined) ?? 0
}

/**
 * Adds one to a `meta` counter and returns the new value: the generations that tell a process
 * its cached reads are stale, the work queue's sequence. Inside a write transaction.
 */
export function bumpMeta(store: Store, key: string): number {
  const next = metaCounter(store, key) + 1
  store.meta.putSync(key, next)
  return next
}
