import { createHash } from 'node:crypto'
import { metaCounter, type Store } from './env.js'
import { forgetSegments, segmentContents } from './segments.js'
import { decodeIds } from './id-lists.js'

export { decodeIds, encodeIds } from './id-lists.js'
import type { Digest, ImageInfo, Inventory, InventoryWarning, OsInfo, Package } from '../types.js'

/**
 * Images, packages and variants.
 *
 * - An image is stored as its inventory header plus the ids of its segments (store/segments.ts):
 *   the runs of packages each of its layers contributed, shared with every image built on the
 *   same layers.
 * - A package is one package as found, every field but its layer (its segment has that); each
 *   distinct package is stored once however many images and layers hold it.
 * - A variant is what matching reads of a package: OS ecosystem, ecosystem, name, version,
 *   source, osOwned. Many packages (same version in different layers or paths) share a variant.
 *   Matching is a pure function of the variant; the package adds only presentation fields
 *   (pkgKey, purl, path, layer: see store/findings.ts), so a delta re-matches each variant once.
 *
 * Ids are interned to 4 bytes (meta counters `ids:image`, `ids:package`, `ids:variant`,
 * `ids:segment`; never reused). All writers here run inside `store.root.transactionSync`.
 */
export interface ImageRecord {
  v: 2
  id: number
  image: ImageInfo
  os?: OsInfo
  analyzerSet: string
  createdAt: string
  /** Segment ids (uint32 BE), in the order their packages are concatenated. */
  segments: Uint8Array
  /**
   * Present when the inventory's packages are not grouped by segment: for each package of the
   * concatenated segments, its position in the inventory (uint32 BE).
   */
  order?: Uint8Array
  /** Logical postings this image holds (store/postings.ts). */
  postings: number
  /** The inventory's warnings (what the scan skipped), kept so stored answers still say so. */
  warnings?: InventoryWarning[]
}

export interface PackageRecord {
  pkg: Package
  variant: number
}

export interface VariantRecord {
  /** The first package seen with this identity; findings are stored as matched for it. */
  pkg: Package
  os?: OsInfo
  /** Posting keys (`ecosystem\0name`) the variant is filed under. */
  keys: string[]
}

const IMAGE_COUNTER = 'ids:image'
const PACKAGE_COUNTER = 'ids:package'
const VARIANT_COUNTER = 'ids:variant'
export const SEGMENT_COUNTER = 'ids:segment'

export function nextId(store: Store, counter: string): number {
  const id = metaCounter(store, counter) + 1
  if (id > 0xffffffff) throw new RangeError(`${counter} exhausted`)
  store.meta.putSync(counter, id)
  return id
}

export function imageIdOf(store: Store, digest: string): number | undefined {
  return store.imageIds.get(digest) as number | undefined
}

export function internImage(store: Store, digest: string): number {
  const known = imageIdOf(store, digest)
  if (known !== undefined) return known
  const id = nextId(store, IMAGE_COUNTER)
  store.imageIds.putSync(digest, id)
  store.imageIds.putSync(id, digest)
  return id
}

// Digests are looked up for every affected image of a delta, tens of thousands for a popular
// package: the id → digest table is loaded whole on first use (one range read) and kept per
// store. Ids are never reused, so an entry can only be stale for a removed image, whose segments
// no longer list it and which therefore is never asked for again.
const digestTables = new WeakMap<Store, string[]>()

/** The id → digest table (loaded on first use); entries may be missing for images indexed elsewhere. */
export function digestTable(store: Store): readonly (string | undefined)[] {
  let table = digestTables.get(store)
  if (!table) {
    table = []
    for (const { key, value } of store.imageIds.getRange({ start: 0, end: 0x100000000 })) {
      if (typeof key === 'number' && typeof value === 'string') table[key] = value
    }
    digestTables.set(store, table)
  }
  return table
}

export function digestOf(store: Store, id: number): string | undefined {
  const table = digestTable(store) as (string | undefined)[]
  let digest = table[id]
  if (digest === undefined) {
    digest = store.imageIds.get(id) as string | undefined
    if (digest !== undefined) table[id] = digest
  }
  return digest
}

/** The highest image id handed out so far. */
export function lastImageId(store: Store): number {
  return metaCounter(store, IMAGE_COUNTER)
}

/** The highest segment id handed out so far. */
export function lastSegmentId(store: Store): number {
  return metaCounter(store, SEGMENT_COUNTER)
}

/**
 * A content hash for interning (packages, variants, segments). JSON, not msgpack: V8's
 * serializer is several times faster on plain objects, and indexing hashes every layer's package
 * list of every image. Key order counts, as it does for the stored records.
 */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 32)
}

/**
 * The release's ecosystem, where matching reads it: only for a package without an ecosystem of
 * its own (match/keys.ts packageEcosystem). A Python package is the same variant and the same
 * package record on Debian and on Alpine.
 */
function releaseOf(pkg: Package, os: OsInfo | undefined): string {
  return pkg.ecosystem ? '' : (os?.ecosystem ?? '')
}

/** What matchPackage reads of a package (match/matcher.ts); everything else is presentation. */
export function variantHash(pkg: Package, os: OsInfo | undefined): string {
  return contentHash([releaseOf(pkg, os), pkg.ecosystem, pkg.name, pkg.version, pkg.source?.name ?? '', pkg.source?.version ?? '', pkg.osOwned === true])
}

export function internVariant(store: Store, pkg: Package, os: OsInfo | undefined, keys: () => string[]): { id: number; created: boolean } {
  const h = variantHash(pkg, os)
  const known = store.variantIds.get(h) as number | undefined
  if (known !== undefined) return { id: known, created: false }
  const id = nextId(store, VARIANT_COUNTER)
  const record: VariantRecord = { pkg, keys: keys() }
  if (os) record.os = os
  store.variantIds.putSync(h, id)
  store.variants.putSync(id, record)
  return { id, created: true }
}

/** A package as stored: without its layer, which its segment records (store/segments.ts). */
export function withoutLayer(pkg: Package): Package {
  if (pkg.layer === undefined) return pkg
  const { layer: _, ...rest } = pkg
  return rest
}

/** The package as found in a layer. */
export function withLayer(pkg: Package, layer: Digest | undefined): Package {
  return layer === undefined ? pkg : { ...pkg, layer }
}

function packageHash(stored: Package, os: OsInfo | undefined): string {
  return contentHash([releaseOf(stored, os), stored])
}

/**
 * Returns the package id, its variant and whether either record was created now. `pkg` is
 * stored without its layer.
 */
export function internPackage(store: Store, found: Package, os: OsInfo | undefined, keys: () => string[]): { id: number; variant: number; created: boolean; variantCreated: boolean } {
  const pkg = withoutLayer(found)
  const h = packageHash(pkg, os)
  // package-ids holds [package id, variant id]: the hot path of indexing never decodes a package.
  const known = store.packageIds.get(h) as [number, number] | undefined
  if (known !== undefined) return { id: known[0], variant: known[1], created: false, variantCreated: false }
  const v = internVariant(store, pkg, os, keys)
  const id = nextId(store, PACKAGE_COUNTER)
  store.packageIds.putSync(h, [id, v.id])
  store.packages.putSync(id, { pkg, variant: v.id } satisfies PackageRecord)
  return { id, variant: v.id, created: true, variantCreated: v.created }
}

// Variant keys never change once written and ids are never reused, so they can be cached for the
// life of the process: indexing reads them for every package of every image.
const keyCache = new WeakMap<Store, Map<number, string[]>>()

export function variantKeys(store: Store, id: number): string[] | undefined {
  let cache = keyCache.get(store)
  if (!cache) keyCache.set(store, (cache = new Map()))
  let keys = cache.get(id)
  if (keys === undefined) {
    keys = readVariant(store, id)?.keys
    if (keys !== undefined) cache.set(id, keys)
  }
  return keys
}

// Package records never change once written and ids are never reused (dropPackage evicts).
// Reading an inventory or spreading a delta's events reads hundreds of them; decoding each from
// LMDB costs microseconds, a Map lookup nanoseconds. Bounded: cleared when it grows past CACHED.
const CACHED = 500_000
const packageCache = new WeakMap<Store, Map<number, PackageRecord>>()

export function readPackage(store: Store, id: number): PackageRecord | undefined {
  let cache = packageCache.get(store)
  if (!cache) packageCache.set(store, (cache = new Map()))
  let rec = cache.get(id)
  if (rec === undefined) {
    rec = store.packages.get(id) as PackageRecord | undefined
    if (rec !== undefined) {
      if (cache.size >= CACHED) cache.clear()
      cache.set(id, rec)
    }
  }
  return rec
}

export function readVariant(store: Store, id: number): VariantRecord | undefined {
  return store.variants.get(id) as VariantRecord | undefined
}

// Variant records never change once written and ids are never reused (dropVariant evicts): a
// delta reads every variant under a touched key, hundreds for a popular package.
const variantCache = new WeakMap<Store, Map<number, VariantRecord>>()

/** readVariant through a per-store cache. */
export function variantRecord(store: Store, id: number): VariantRecord | undefined {
  let cache = variantCache.get(store)
  if (!cache) variantCache.set(store, (cache = new Map()))
  let rec = cache.get(id)
  if (rec === undefined) {
    rec = readVariant(store, id)
    if (rec !== undefined) {
      if (cache.size >= CACHED) cache.clear()
      cache.set(id, rec)
    }
  }
  return rec
}

export function dropPackage(store: Store, id: number, record: PackageRecord, os: OsInfo | undefined): void {
  store.packageIds.removeSync(packageHash(record.pkg, os))
  store.packages.removeSync(id)
  packageCache.get(store)?.delete(id)
}

export function dropVariant(store: Store, id: number, record: VariantRecord): void {
  store.variantIds.removeSync(variantHash(record.pkg, record.os))
  store.variants.removeSync(id)
  variantCache.get(store)?.delete(id)
}

/** Drops this process's cached records of the store (after its derived databases were cleared). */
export function forgetCachedRecords(store: Store): void {
  for (const cache of [packageCache, variantCache, keyCache, digestTables]) cache.delete(store)
  forgetSegments(store)
}

export function readImage(store: Store, digest: string): ImageRecord | undefined {
  return asImageRecord(store.images.get(digest))
}

export function asImageRecord(value: unknown): ImageRecord | undefined {
  const rec = value as ImageRecord | undefined
  return rec && rec.v === 2 && rec.segments instanceof Uint8Array ? rec : undefined
}

export function writeImage(store: Store, record: ImageRecord): void {
  store.images.putSync(record.image.digest, record)
}

/** An image's packages in inventory order: id, variant and the package with its layer. */
export function imagePackages(store: Store, rec: ImageRecord): { id: number; variant: number; pkg: Package }[] {
  const concatenated: { id: number; variant: number; pkg: Package }[] = []
  for (const segment of decodeIds(rec.segments)) {
    const seg = segmentContents(store, segment)
    if (!seg) throw new Error(`image ${rec.image.digest}: segment ${segment} is missing`)
    for (const id of seg.packages) {
      const p = readPackage(store, id)
      if (!p) throw new Error(`image ${rec.image.digest}: package ${id} is missing`)
      concatenated.push({ id, variant: p.variant, pkg: withLayer(p.pkg, seg.layer) })
    }
  }
  if (!rec.order) return concatenated
  const out: typeof concatenated = new Array(concatenated.length)
  decodeIds(rec.order).forEach((at, i) => (out[at] = concatenated[i]!))
  return out
}

/** The inventory exactly as indexed. */
export function readInventory(store: Store, digest: string): Inventory | undefined {
  const rec = readImage(store, digest)
  if (!rec) return undefined
  const packages = imagePackages(store, rec).map((p) => p.pkg)
  const inv: Inventory = { v: 1, image: rec.image, packages, analyzerSet: rec.analyzerSet, createdAt: rec.createdAt }
  if (rec.os) inv.os = rec.os
  if (rec.warnings?.length) inv.warnings = rec.warnings
  return inv
}

export function* listImages(store: Store): Generator<ImageRecord> {
  for (const { value } of store.images.getRange({})) {
    const rec = asImageRecord(value)
    if (rec) yield rec
  }
}

export function removeImageRecord(store: Store, digest: string, id: number): void {
  store.images.removeSync(digest)
  store.imageIds.removeSync(digest)
  store.imageIds.removeSync(id)
  const table = digestTables.get(store)
  if (table) delete table[id]
}

export type { Digest }
