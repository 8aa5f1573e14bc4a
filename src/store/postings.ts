import { metaCounter, type PostingKey, type Store } from './env.js'
import { indexReader, settledIndexGeneration } from './segments.js'

/**
 * Postings: "image I holds package P (of variant V), filed under store key K".
 *
 * They are stored in two halves that multiply out:
 * - `postings` (LMDB database `key-packages`): [K, V, P] → nothing, one entry per distinct
 *   package and key, written when the package is first stored. Keys sort by store key, variant,
 *   package: the deployed versions of openssl are a short key range, the packages of one variant
 *   a shorter one.
 * - the package's segments and their images (store/segments.ts): P → segments → images.
 *
 * A logical posting (K, P, I) therefore costs nothing per image beyond the image's share of its
 * segments' image lists (4 bytes per segment, not per package). `postingCount` is the logical
 * count, kept in `meta` as images come and go.
 */
const MAX_ID = 0xffffffff
const EMPTY = Buffer.alloc(0)
export const POSTING_COUNT = 'stats:postings'

/**
 * A posting key as read back. lmdb-js's ordered-binary decoding returns a long string containing
 * NUL as its NUL-separated parts (store/advisories.ts keyString), so the key of a long package name
 * (`Go\0go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp`, past ~60 characters)
 * comes back as [ecosystem, name, variant, package]: the ids are always the last two parts.
 */
export function readPostingKey(raw: unknown): PostingKey {
  const parts = raw as (string | number)[]
  if (parts.length === 3) return parts as PostingKey
  return [parts.slice(0, -2).join('\0'), parts[parts.length - 2] as number, parts[parts.length - 1] as number]
}

/** Store keys whose postings lmdb-js reads back split (see readPostingKey), each once, sorted. */
export function keysReadBackSplit(store: Store): string[] {
  const keys = new Set<string>()
  for (const raw of store.postings.getKeys({})) if ((raw as unknown[]).length > 3) keys.add(readPostingKey(raw)[0])
  return [...keys].sort()
}

export function addPosting(store: Store, key: string, variant: number, pkg: number): void {
  store.postings.putSync([key, variant, pkg], EMPTY)
}

export function removePosting(store: Store, key: string, variant: number, pkg: number): void {
  store.postings.removeSync([key, variant, pkg])
}

/** The distinct variants filed under a store key. */
export function variantsUnder(store: Store, key: string): number[] {
  const out: number[] = []
  for (const k of store.postings.getKeys({ start: [key, 0], end: [key, MAX_ID + 1] })) {
    const v = readPostingKey(k)[1]
    if (out[out.length - 1] !== v) out.push(v)
  }
  return out
}

/** Package ids of one variant under one of its keys. */
export function packageIdsOfVariant(store: Store, key: string, variant: number): number[] {
  const out: number[] = []
  for (const k of store.postings.getKeys({ start: [key, variant], end: [key, variant + 1] })) out.push(readPostingKey(k)[2])
  return out
}

/**
 * Package ids of every variant under a key (one pass over the key's postings), shared: read only.
 * Kept per index generation (every transaction that writes postings moves it): a one-advisory
 * delta on a popular package reads the hundreds of postings of its key, and decoding their keys
 * took ~0.15 ms of a ~6 ms delta at 100,000 images; the 1,000-advisory delta reads hundreds of keys.
 */
export function packagesUnder(store: Store, key: string): ReadonlyMap<number, readonly number[]> {
  const generation = settledIndexGeneration(store)
  if (generation === undefined) return readPackagesUnder(store, key)
  let kept = keptUnder.get(store)
  if (!kept || kept.generation !== generation || kept.ids > KEPT_IDS) keptUnder.set(store, (kept = { generation, lists: new Map(), ids: 0 }))
  let under = kept.lists.get(key)
  if (!under) {
    under = readPackagesUnder(store, key)
    kept.lists.set(key, under)
    for (const list of under.values()) kept.ids += list.length
  }
  return under
}

const keptUnder = new WeakMap<Store, { generation: number; lists: Map<string, ReadonlyMap<number, readonly number[]>>; ids: number }>()
const KEPT_IDS = 2_000_000

function readPackagesUnder(store: Store, key: string): Map<number, number[]> {
  const out = new Map<number, number[]>()
  let last = -1
  let list: number[] = []
  for (const k of store.postings.getKeys({ start: [key, 0], end: [key, MAX_ID + 1] })) {
    const [, variant, pkg] = readPostingKey(k)
    if (variant !== last) out.set((last = variant), (list = []))
    list.push(pkg)
  }
  return out
}

/** Calls `each` with every image holding the package (an image holding it twice comes once per segment). */
export function forEachImageOfPackage(store: Store, pkg: number, each: (image: number) => void): void {
  const index = indexReader(store)
  for (const segment of index.segmentsOf(pkg)) {
    const images = index.imagesOf(segment)
    for (let i = 0; i < images.length; i++) each(images[i]!)
  }
}

/** Packages of one variant under a key, each with the (distinct) image ids that hold it. */
export function* packagesOfVariant(store: Store, key: string, variant: number): Generator<{ pkg: number; images: number[] }> {
  for (const pkg of packageIdsOfVariant(store, key, variant)) {
    const images = new Set<number>()
    forEachImageOfPackage(store, pkg, (i) => images.add(i))
    yield { pkg, images: [...images] }
  }
}

export function variantInUse(store: Store, key: string, variant: number): boolean {
  for (const _ of store.postings.getKeys({ start: [key, variant], end: [key, variant + 1], limit: 1 })) return true
  return false
}

/** Number of logical (key, package, image) postings in the store. */
export function postingCount(store: Store): number {
  return metaCounter(store, POSTING_COUNT)
}

/** Inside a write transaction: an image came (+) or went (−) with this many postings. */
export function adjustPostingCount(store: Store, by: number): void {
  if (by !== 0) store.meta.putSync(POSTING_COUNT, postingCount(store) + by)
}
