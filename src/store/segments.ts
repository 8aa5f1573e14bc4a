import { bumpMeta, metaCounter, type Store } from './env.js'
import type { Digest, OsInfo } from '../types.js'
import { decodeIds, IdLists } from './id-lists.js'
import { PackedLists, type Span } from './packed-lists.js'

export type { Span } from './packed-lists.js'

/**
 * Segments: the unit of sharing between images.
 *
 * A segment is the list of an image's packages that one layer contributed (packages without a
 * layer form their own segment), with that layer's digest (and the release, for packages that
 * take their ecosystem from it).
 * Images built on the same base layers hold the very same segments, so "which images hold
 * package P" is stored as P → its segments → the images holding each segment, instead of one
 * posting per image and package: a fleet of 100,000 images of ~300 packages holds ~30 million
 * (image, package) pairs but far fewer (segment, image) and (package, segment) entries.
 * Packages are stored without their layer (the segment has it), so a package that many layers
 * carry (the same requests 2.31.0 in every Python app) is one record.
 *
 * - `segments`: segment id → SegmentRecord.
 * - `segment-ids`: content hash → [segment id, postings] (what indexing a known segment needs).
 * - `segment-images`: segment id → image ids; `package-segments`: package id → segment ids.
 *   Both are packed id lists (store/id-lists.ts): a delta reads them for every changed package.
 *
 * Writers run inside a write transaction.
 */
export interface SegmentRecord {
  /** Package ids in inventory order (uint32 BE). */
  packages: Uint8Array
  /** Content hash (segment-ids key). */
  hash: string
  /** (key, package) postings one image gains by holding this segment. */
  postings: number
  /**
   * The release the packages were found on, kept (and part of the content hash) only when a
   * package takes its ecosystem from it; language packages are the same on every release.
   */
  os?: OsInfo
  /** The layer that contributed the packages. */
  layer?: Digest
}

interface Cached {
  images: IdLists
  segments: IdLists
  /** Decoded segments: they never change once written and ids are never reused. */
  contents: Map<number, { packages: Uint32Array; layer: Digest | undefined }>
  /** Id lists as of an index generation (kept): segment → images, package → segments. */
  kept?: Kept
  /** The id-list changes of the indexing transaction in progress. */
  journal?: { before: number; changes: Change[] }
  /** warmIndex was called: image lists are kept packed, and packed again after a reread. */
  warm: boolean
}

interface Kept {
  generation: number
  /** Segment image lists read one by one (before warmIndex). */
  images: Map<number, number[]>
  /** Every segment's image list, packed (after warmIndex). */
  packed?: PackedLists
  segments: Map<number, number[]>
}

/** [which list, owner, id, added] */
type Change = [list: 'images' | 'segments', owner: number, id: number, added: boolean]

const caches = new WeakMap<Store, Cached>()
// ~20,000 segments of ~200 package ids: a few MB.
const CACHED = 20_000

function of(store: Store): Cached {
  let c = caches.get(store)
  if (!c) caches.set(store, (c = { images: new IdLists(store.segmentImages), segments: new IdLists(store.packageSegments), contents: new Map(), warm: false }))
  return c
}

export function forgetSegments(store: Store): void {
  const warm = caches.get(store)?.warm === true
  caches.delete(store)
  if (warm) of(store).warm = true
}

/** A segment's package ids (in order) and layer, decoded once per process. */
export function segmentContents(store: Store, id: number): { packages: Uint32Array; layer: Digest | undefined } | undefined {
  const cache = of(store).contents
  let hit = cache.get(id)
  if (hit === undefined) {
    const rec = readSegment(store, id)
    if (!rec) return undefined
    if (cache.size >= CACHED) cache.clear()
    cache.set(id, (hit = { packages: Uint32Array.from(decodeIds(rec.packages)), layer: rec.layer }))
  }
  return hit
}

/** The segment with this content hash: its id and its weight in postings. */
export function segmentIdOf(store: Store, hash: string): { id: number; postings: number } | undefined {
  const hit = store.segmentIds.get(hash) as [number, number] | undefined
  return hit && { id: hit[0], postings: hit[1] }
}

export function readSegment(store: Store, id: number): SegmentRecord | undefined {
  return store.segments.get(id) as SegmentRecord | undefined
}

export function writeSegment(store: Store, id: number, record: SegmentRecord): void {
  store.segmentIds.putSync(record.hash, [id, record.postings])
  store.segments.putSync(id, record)
}

/** Links packages to a segment (`packages` distinct); indexing calls it once per batch and package. */
export function linkPackage(store: Store, pkg: number, segments: readonly number[]): void {
  const c = of(store)
  c.segments.append(pkg, segments)
  if (c.journal) for (const segment of segments) c.journal.changes.push(['segments', pkg, segment, true])
}

/** Drops a segment nobody holds; returns the packages no segment holds any more. */
export function dropSegment(store: Store, id: number, record: SegmentRecord, distinctPackages: Iterable<number>): number[] {
  store.segmentIds.removeSync(record.hash)
  store.segments.removeSync(id)
  const c = of(store)
  c.contents.delete(id)
  const orphans: number[] = []
  for (const pkg of distinctPackages) {
    if (c.journal) c.journal.changes.push(['segments', pkg, id, false])
    if (!c.segments.remove(pkg, id)) orphans.push(pkg)
  }
  return orphans
}

/**
 * Index generation: `meta` `index:generation` goes up by one in every transaction that changes
 * an id list (indexing, removal, rebuild). A delta reads the image lists of every segment holding
 * a changed package, thousands for a popular one, and the segment lists of those packages; this
 * process keeps the lists it has read, valid while the generation is the one they were read at.
 * Its own indexing transactions journal their changes and, once committed, apply them to the kept
 * lists; a write by another process changes the generation and the kept lists are dropped.
 */
const GENERATION = 'index:generation'
const KEPT_LISTS = 500_000

function generationOf(store: Store): number {
  return metaCounter(store, GENERATION)
}

/**
 * The index generation, for a cache of what indexing writes (postings.ts keeps key → packages
 * lists by it); undefined inside this process's indexing transaction, whose writes may still be
 * aborted and whose generation number the next transaction would then reuse.
 */
export function settledIndexGeneration(store: Store): number | undefined {
  return of(store).journal ? undefined : generationOf(store)
}

/** Inside a write transaction (not nested in another one), before any id list changes. */
export function beginIndexWrite(store: Store): void {
  of(store).journal = { before: bumpMeta(store, GENERATION) - 1, changes: [] }
}

/** After that transaction: `committed` false when it was aborted (the store did not change). */
export function endIndexWrite(store: Store, committed: boolean): void {
  const c = of(store)
  const journal = c.journal
  c.journal = undefined
  if (!journal || !committed) return
  const kept = c.kept
  if (!kept || kept.generation !== journal.before) {
    c.kept = undefined
    return
  }
  for (const [which, owner, id, added] of journal.changes) {
    if (which === 'images' && kept.packed) {
      if (added) kept.packed.add(owner, id)
      else kept.packed.remove(owner, id)
      continue
    }
    // A list this process has not read stays unread.
    const list = kept[which].get(owner)
    if (!list) continue
    if (added) list.push(id)
    else {
      const at = list.indexOf(id)
      if (at >= 0) {
        list[at] = list[list.length - 1]!
        list.pop()
      }
    }
  }
  kept.generation = journal.before + 1
}

/** Appends image ids (not already in the segment). */
export function addImagesToSegment(store: Store, segment: number, images: readonly number[]): void {
  const c = of(store)
  c.images.append(segment, images)
  if (c.journal) for (const image of images) c.journal.changes.push(['images', segment, image, true])
}

/** Removes one image from a segment's list; returns whether the segment still has images. */
export function removeImageFromSegment(store: Store, segment: number, image: number): boolean {
  const c = of(store)
  if (c.journal) c.journal.changes.push(['images', segment, image, false])
  return c.images.remove(segment, image)
}

export interface IndexReader {
  /** The images holding a segment. */
  imagesOf(segment: number): ArrayLike<number>
  /** The same as a span of a shared array, written into `into` (walks many segments without allocating). */
  imageSpan(segment: number, into: Span): Span
  /** The segments holding a package. */
  segmentsOf(pkg: number): readonly number[]
}

/**
 * A reader of the id lists for one pass over the index (one generation check). The lists it
 * returns are shared: read only. Inside an indexing transaction it reads the store.
 */
export function indexReader(store: Store): IndexReader {
  const c = of(store)
  if (c.journal) return listReader((segment) => c.images.list(segment), (pkg) => c.segments.list(pkg))
  const kept = keptLists(store, c)
  const segmentsOf = (pkg: number) => keptList(kept.segments, c.segments, pkg)
  const packed = kept.packed
  if (packed) return { imagesOf: (segment) => packed.get(segment), imageSpan: (segment, into) => packed.span(segment, into), segmentsOf }
  return listReader((segment) => keptList(kept.images, c.images, segment), segmentsOf)
}

function keptList(lists: Map<number, number[]>, source: IdLists, owner: number): number[] {
  let list = lists.get(owner)
  if (list === undefined) {
    list = source.list(owner)
    if (lists.size >= KEPT_LISTS) lists.clear()
    lists.set(owner, list)
  }
  return list
}

function listReader(imagesOf: (segment: number) => readonly number[], segmentsOf: (pkg: number) => readonly number[]): IndexReader {
  return {
    imagesOf,
    imageSpan: (segment, into) => {
      const ids = imagesOf(segment)
      into.ids = ids
      into.from = 0
      into.to = ids.length
      return into
    },
    segmentsOf,
  }
}

function keptLists(store: Store, c: Cached): Kept {
  const generation = generationOf(store)
  if (!c.kept || c.kept.generation !== generation) c.kept = { generation, images: new Map(), segments: new Map() }
  // After another process changed the index the lists are read again: packed again when warm.
  if (c.warm && !c.kept.packed) c.kept.packed = new PackedLists(c.images.all())
  return c.kept
}

/**
 * Reads every segment's image list into this process's kept lists in one pass and packs them
 * (store/packed-lists.ts); the daemon and the bench call it once at start. A feed delta then
 * walks images in contiguous memory without a store read, and the first delta does not pay for
 * reading thousands of lists one by one. The lists stay packed across this process's own index
 * writes and are read and packed again after another process's. Outside a transaction.
 */
export function warmIndex(store: Store): { segments: number; images: number } {
  const c = of(store)
  c.warm = true
  const packed = keptLists(store, c).packed!
  return { segments: packed.owners, images: packed.total }
}
