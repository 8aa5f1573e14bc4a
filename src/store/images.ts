import { createHash } from 'node:crypto'
import { pack } from 'msgpackr'
import type { Store } from './env.js'
import type { Digest, ImageInfo, Inventory, OsInfo, Package } from '../types.js'

/**
 * Images, packages and variants.
 *
 * - An image is stored as its inventory header plus the ids of its packages, in package order.
 * - A package is one package exactly as found (every field); images built on shared layers share
 *   their package records, so each distinct package is stored once however many images hold it.
 * - A variant is what matching reads of a package: OS ecosystem, ecosystem, name, version,
 *   source, osOwned. Many packages (same version in different layers or paths) share a variant.
 *   Matching is a pure function of the variant; the package adds only presentation fields
 *   (pkgKey, purl, path, layer: see store/findings.ts), so a delta re-matches each variant once.
 *
 * Ids are interned to 4 bytes (meta counters `ids:image`, `ids:package`, `ids:variant`; never
 * reused) so that a posting stays small. All writers here run inside `store.root.transactionSync`.
 */
export interface ImageRecord {
  v: 1
  id: number
  image: ImageInfo
  os?: OsInfo
  analyzerSet: string
  createdAt: string
  /** One package id per inventory package, in inventory order (uint32 BE). */
  packages: Uint8Array
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

function nextId(store: Store, counter: string): number {
  const id = ((store.meta.get(counter) as number | undefined) ?? 0) + 1
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

// Digests are looked up once per affected image per delta; a process-wide cache keeps that O(1).
// Ids are never reused, so a cached entry can only be stale for a removed image, whose postings
// are gone and which therefore is never asked for again.
const digestCache = new WeakMap<Store, Map<number, string>>()

export function digestOf(store: Store, id: number): string | undefined {
  let cache = digestCache.get(store)
  if (!cache) digestCache.set(store, (cache = new Map()))
  let digest = cache.get(id)
  if (digest === undefined) {
    digest = store.imageIds.get(id) as string | undefined
    if (digest !== undefined) cache.set(id, digest)
  }
  return digest
}

function hash(value: unknown): string {
  return createHash('sha256').update(pack(value)).digest('base64url').slice(0, 32)
}

/** What matchPackage reads of a package (match/matcher.ts); everything else is presentation. */
export function variantHash(pkg: Package, os: OsInfo | undefined): string {
  return hash([os?.ecosystem ?? '', pkg.ecosystem, pkg.name, pkg.version, pkg.source?.name ?? '', pkg.source?.version ?? '', pkg.osOwned === true])
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

/** Returns the package id, its variant and whether either record was created now. */
export function internPackage(store: Store, pkg: Package, os: OsInfo | undefined, keys: () => string[]): { id: number; variant: number; created: boolean; variantCreated: boolean } {
  const h = hash([os ?? null, pkg])
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

export function readPackage(store: Store, id: number): PackageRecord | undefined {
  return store.packages.get(id) as PackageRecord | undefined
}

export function readVariant(store: Store, id: number): VariantRecord | undefined {
  return store.variants.get(id) as VariantRecord | undefined
}

export function dropPackage(store: Store, id: number, record: PackageRecord, os: OsInfo | undefined): void {
  store.packageIds.removeSync(hash([os ?? null, record.pkg]))
  store.packages.removeSync(id)
}

export function dropVariant(store: Store, id: number, record: VariantRecord): void {
  store.variantIds.removeSync(variantHash(record.pkg, record.os))
  store.variants.removeSync(id)
}

export function encodeIds(ids: readonly number[]): Uint8Array {
  const out = Buffer.alloc(ids.length * 4)
  ids.forEach((id, i) => out.writeUInt32BE(id, i * 4))
  return out
}

export function decodeIds(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: number[] = new Array(bytes.byteLength >>> 2)
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4)
  return out
}

export function readImage(store: Store, digest: string): ImageRecord | undefined {
  const rec = store.images.get(digest) as ImageRecord | undefined
  return rec && rec.v === 1 && rec.packages instanceof Uint8Array ? rec : undefined
}

export function writeImage(store: Store, record: ImageRecord): void {
  store.images.putSync(record.image.digest, record)
}

/** The inventory exactly as indexed (packages rebuilt from their variants). */
export function readInventory(store: Store, digest: string): Inventory | undefined {
  const rec = readImage(store, digest)
  if (!rec) return undefined
  const packages = decodeIds(rec.packages).map((id) => {
    const p = readPackage(store, id)
    if (!p) throw new Error(`image ${digest}: package ${id} is missing`)
    return p.pkg
  })
  const inv: Inventory = { v: 1, image: rec.image, packages, analyzerSet: rec.analyzerSet, createdAt: rec.createdAt }
  if (rec.os) inv.os = rec.os
  return inv
}

export function* listImages(store: Store): Generator<ImageRecord> {
  for (const { value } of store.images.getRange({})) {
    const rec = value as ImageRecord
    if (rec && rec.v === 1 && rec.packages instanceof Uint8Array) yield rec
  }
}

export function removeImageRecord(store: Store, digest: string, id: number): void {
  store.images.removeSync(digest)
  store.imageIds.removeSync(digest)
  store.imageIds.removeSync(id)
  digestCache.get(store)?.delete(id)
}

export type { Digest }
