import type { Store } from './env.js'

/**
 * Postings: [`ecosystem\0name`, variant id, package id] → one dupSort value per image holding that
 * package, the image's interned 4-byte id. The installed version and the rest of the package live
 * once in the package and variant records (store/images.ts), not once per image; a posting costs
 * its 4 bytes plus LMDB's 8-byte node header, and the key is shared by all images of the package.
 *
 * Keys sort by store key, variant, package: "which versions of openssl are deployed" is a few
 * cursor seeks (one per variant), "which images hold this variant" one short key range. A delta
 * re-matches each variant once and reads image ids only for variants whose findings changed.
 * Writers run inside a write transaction.
 */
const MAX_ID = 0xffffffff

function imageBytes(image: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(image, 0)
  return b
}

export function addPosting(store: Store, key: string, variant: number, pkg: number, image: number): void {
  store.postings.putSync([key, variant, pkg], imageBytes(image))
}

export function removePosting(store: Store, key: string, variant: number, pkg: number, image: number): void {
  store.postings.removeSync([key, variant, pkg], imageBytes(image))
}

/** The distinct variants filed under a store key: one seek per variant, skipping its packages. */
export function variantsUnder(store: Store, key: string): number[] {
  const out: number[] = []
  let from = 0
  while (from <= MAX_ID) {
    let found: number | undefined
    for (const k of store.postings.getKeys({ start: [key, from], end: [key, MAX_ID + 1], limit: 1 })) found = (k as [string, number, number])[1]
    if (found === undefined) break
    out.push(found)
    from = found + 1
  }
  return out
}

/** Packages of one variant under a key, each with the image ids that hold it. */
export function* packagesOfVariant(store: Store, key: string, variant: number): Generator<{ pkg: number; images: number[] }> {
  for (const k of store.postings.getKeys({ start: [key, variant], end: [key, variant + 1] })) {
    const pkg = (k as [string, number, number])[2]
    const images: number[] = []
    for (const v of store.postings.getValues(k)) images.push((v as Buffer).readUInt32BE(0))
    yield { pkg, images }
  }
}

export function variantInUse(store: Store, key: string, variant: number): boolean {
  for (const _ of store.postings.getKeys({ start: [key, variant], end: [key, variant + 1], limit: 1 })) return true
  return false
}

export function packageInUse(store: Store, key: string, variant: number, pkg: number): boolean {
  return store.postings.doesExist([key, variant, pkg])
}

/** Store keys starting with `prefix` (an ecosystem), with their variants. */
export function* keysWithPrefix(store: Store, prefix: string): Generator<string> {
  let last: string | undefined
  for (const k of store.postings.getKeys({ start: [prefix], end: [`${prefix}\uffff`] })) {
    const key = (k as [string, number, number])[0]
    if (key !== last && key.startsWith(prefix)) yield key
    last = key
  }
}

/** Number of (key, package, image) postings in the store. */
export function postingCount(store: Store): number {
  return (store.postings.getStats() as { entryCount: number }).entryCount
}
