import type { Store } from './env.js'
import type { Digest, OsInfo } from '../types.js'
import { decodeIds, IdLists } from './id-lists.js'

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
  /** Segments' image lists as of an index generation (segmentImageReader). */
  imageLists?: { generation: number; lists: Map<number, number[]> }
  /** The image-list changes of the indexing transaction in progress. */
  journal?: { before: number; changes: [segment: number, image: number, added: boolean][] }
}

const caches = new WeakMap<Store, Cached>()
// ~20,000 segments of ~200 package ids: a few MB.
const CACHED = 20_000

function of(store: Store): Cached {
  let c = caches.get(store)
  if (!c) caches.set(store, (c = { images: new IdLists(store.segmentImages), segments: new IdLists(store.packageSegments), contents: new Map() }))
  return c
}

export function forgetSegments(store: Store): void {
  caches.delete(store)
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
  of(store).segments.append(pkg, segments)
}

/** Drops a segment nobody holds; returns the packages no segment holds any more. */
export function dropSegment(store: Store, id: number, record: SegmentRecord, distinctPackages: Iterable<number>): number[] {
  store.segmentIds.removeSync(record.hash)
  store.segments.removeSync(id)
  of(store).contents.delete(id)
  const orphans: number[] = []
  for (const pkg of distinctPackages) if (!of(store).segments.remove(pkg, id)) orphans.push(pkg)
  return orphans
}

/** The segments holding a package. */
export function segmentsOfPackage(store: Store, pkg: number): number[] {
  return of(store).segments.list(pkg)
}

/**
 * Index generation: `meta` `index:generation` goes up by one in every transaction that changes
 * a segment's image list (indexing, removal, rebuild). A delta reads the image lists of every
 * segment holding a changed package, thousands for a popular one; this process keeps the lists
 * it has read, valid while the generation is the one they were read at. Its own indexing
 * transactions journal their changes and, once committed, apply them to the kept lists; a write
 * by another process changes the generation and the kept lists are dropped.
 */
const GENERATION = 'index:generation'
const KEPT_LISTS = 200_000

function generationOf(store: Store): number {
  return (store.meta.get(GENERATION) as number | undefined) ?? 0
}

/** Inside a write transaction (not nested in another one), before any image list changes. */
export function beginIndexWrite(store: Store): void {
  const before = generationOf(store)
  store.meta.putSync(GENERATION, before + 1)
  of(store).journal = { before, changes: [] }
}

/** After that transaction: `committed` false when it was aborted (the store did not change). */
export function endIndexWrite(store: Store, committed: boolean): void {
  const c = of(store)
  const journal = c.journal
  c.journal = undefined
  if (!journal || !committed) return
  const kept = c.imageLists
  if (!kept || kept.generation !== journal.before) {
    c.imageLists = undefined
    return
  }
  for (const [segment, image, added] of journal.changes) {
    const list = kept.lists.get(segment)
    if (!list) continue
    if (added) list.push(image)
    else {
      const at = list.indexOf(image)
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
  if (c.journal) for (const image of images) c.journal.changes.push([segment, image, true])
}

/** Removes one image from a segment's list; returns whether the segment still has images. */
export function removeImageFromSegment(store: Store, segment: number, image: number): boolean {
  const c = of(store)
  if (c.journal) c.journal.changes.push([segment, image, false])
  return c.images.remove(segment, image)
}

/**
 * A reader of segments' image lists for one pass over the index (one generation check). The
 * lists it returns are shared: read only. Inside an indexing transaction it reads the store.
 */
export function segmentImageReader(store: Store): (segment: number) => readonly number[] {
  const c = of(store)
  if (c.journal) return (segment) => c.images.list(segment)
  const generation = generationOf(store)
  if (!c.imageLists || c.imageLists.generation !== generation) c.imageLists = { generation, lists: new Map() }
  const kept = c.imageLists
  return (segment) => {
    let list = kept.lists.get(segment)
    if (list === undefined) {
      list = c.images.list(segment)
      if (kept.lists.size >= KEPT_LISTS) kept.lists.clear()
      kept.lists.set(segment, list)
    }
    return list
  }
}


