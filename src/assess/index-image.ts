import type { Store } from '../store/env.js'
import type { Inventory, OsInfo, Package } from '../types.js'
import { packageKey, type Finding } from '../match/types.js'
import { VigilError } from '../errors.js'
import {
  contentHash, decodeIds, dropPackage, forgetCachedRecords, dropVariant, encodeIds, imageIdOf, internImage, internPackage, nextId, readImage,
  readPackage, readVariant, removeImageRecord, SEGMENT_COUNTER, variantKeys, writeImage, type ImageRecord,
} from '../store/images.js'
import { addPosting, adjustPostingCount, removePosting, variantInUse } from '../store/postings.js'
import {
  addImagesToSegment, beginIndexWrite, dropSegment, endIndexWrite, linkPackage, readSegment, removeImageFromSegment, segmentIdOf, writeSegment,
} from '../store/segments.js'
import { FindingsWriter } from '../store/findings.js'
import { advisoryIdsUnder } from '../store/advisory-ids.js'
import { readCache } from '../store/advisories.js'
import { defaultMatcher, postingKeys, type Matcher } from './matcher.js'

export interface IndexEntry {
  inventory: Inventory
  /**
   * What matchInventory gave for this inventory. Variants new to the store take their findings
   * from it instead of being matched here; variants already stored keep theirs, which feed
   * deltas keep current.
   */
  findings?: readonly Finding[]
}

export interface IndexOptions {
  matcher?: Matcher
}

/** Stores one image (inventory, postings, findings) in one LMDB transaction. Re-indexing replaces it. */
export function indexImage(store: Store, inventory: Inventory, findings?: readonly Finding[], opts: IndexOptions = {}): void {
  indexImages(store, [findings ? { inventory, findings } : { inventory }], opts)
}

/** Several images in one transaction (bulk loads, rebuilds); each image is all-or-nothing with the batch. */
export function indexImages(store: Store, entries: readonly IndexEntry[], opts: IndexOptions = {}): void {
  const matcher = opts.matcher ?? defaultMatcher
  for (const e of entries) validate(e.inventory)
  try {
    store.root.transactionSync(() => {
      beginIndexWrite(store)
      const writes: TxnWrites = { appends: new SegmentAppends(store), findings: new FindingsWriter(store) }
      for (const e of entries) indexInTxn(store, e, matcher, writes)
      writes.appends.flush()
      writes.findings.flush()
    })
  } catch (err) {
    // The aborted transaction's ids will be handed out again: nothing cached for them may stay.
    endIndexWrite(store, false)
    forgetCachedRecords(store)
    throw err
  }
  endIndexWrite(store, true)
}

/** Removes an image and everything only it referenced. Returns false when it was not indexed. */
export function removeImage(store: Store, digest: string): boolean {
  let removed: boolean
  try {
    removed = store.root.transactionSync(() => {
      const rec = readImage(store, digest)
      const id = imageIdOf(store, digest)
      if (!rec || id === undefined) return false
      beginIndexWrite(store)
      const findings = new FindingsWriter(store)
      for (const segment of decodeIds(rec.segments)) leaveSegment(store, segment, id, findings)
      findings.flush()
      removeImageRecord(store, digest, id)
      adjustPostingCount(store, -rec.postings)
      return true
    })
  } catch (err) {
    endIndexWrite(store, false)
    forgetCachedRecords(store)
    throw err
  }
  endIndexWrite(store, true)
  return removed
}

function validate(inv: Inventory): void {
  if (!inv || typeof inv !== 'object' || !inv.image || !/^sha256:[0-9a-f]{64}$/.test(String(inv.image.digest)) || !Array.isArray(inv.packages)) {
    throw new VigilError('ERR_MESSAGE_INVALID', 'an inventory needs image.digest (sha256:<64 hex>) and a packages array')
  }
  for (const p of inv.packages) {
    if (!p || typeof p.name !== 'string' || typeof p.version !== 'string') {
      throw new VigilError('ERR_MESSAGE_INVALID', `inventory ${inv.image.digest}: a package without a name or version`)
    }
  }
}

/**
 * Images of one batch mostly join segments that other images of the batch join too, and new
 * segments share packages: the ids are collected and each id list (segment → images, package →
 * segments) is rewritten once per batch, not once per image.
 */
class SegmentAppends {
  private readonly images = new Map<number, number[]>()
  private readonly segments = new Map<number, number[]>()
  constructor(private readonly store: Store) {}
  add(segment: number, image: number): void {
    push(this.images, segment, image)
  }
  link(pkg: number, segment: number): void {
    push(this.segments, pkg, segment)
  }
  flush(): void {
    for (const [segment, images] of this.images) addImagesToSegment(this.store, segment, images)
    for (const [pkg, segments] of this.segments) linkPackage(this.store, pkg, segments)
    this.images.clear()
    this.segments.clear()
  }
}

function push(map: Map<number, number[]>, key: number, value: number): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}

/** The inventory's packages grouped by the layer that contributed them, in first-seen order. */
function groupByLayer(packages: readonly Package[]): number[][] {
  const groups = new Map<string, number[]>()
  packages.forEach((p, i) => {
    const layer = p.layer ?? ''
    const g = groups.get(layer)
    if (g) g.push(i)
    else groups.set(layer, [i])
  })
  return [...groups.values()]
}

/**
 * What one indexing transaction collects and writes once at its end: id-list appends, and finding
 * groups (a new variant joins the group of every advisory that affects it; a group of a popular
 * CVE holds thousands of variants and is rewritten once per transaction, not once per variant).
 */
interface TxnWrites {
  appends: SegmentAppends
  findings: FindingsWriter
}

function indexInTxn(store: Store, entry: IndexEntry, matcher: Matcher, writes: TxnWrites): void {
  const { appends } = writes
  const inv = entry.inventory
  const imageId = internImage(store, inv.image.digest)
  const previous = readImage(store, inv.image.digest)
  const given = entry.findings ? splitByPackage(inv.packages, entry.findings) : undefined
  const before = new Set(previous ? decodeIds(previous.segments) : [])

  const segments: number[] = []
  const order: number[] = []
  let postings = 0
  for (const group of groupByLayer(inv.packages)) {
    const packages = group.map((i) => inv.packages[i]!)
    // The release is part of a segment only when a package takes its ecosystem from it (OS
    // packages before finalising): an application layer is one segment on every base image.
    const release = packages.some((p) => !p.ecosystem) ? (inv.os ?? null) : null
    const hash = contentHash([release, packages])
    const known = segmentIdOf(store, hash)
    const seg = known ?? createSegment(store, hash, packages, inv.os, release ?? undefined, given && group.map((i) => given[i]!), matcher, writes)
    segments.push(seg.id)
    postings += seg.postings
    order.push(...group)
    if (!before.delete(seg.id)) appends.add(seg.id, imageId)
  }
  if (before.size > 0) {
    // Segments the image no longer holds: earlier images of this batch may have joined them.
    appends.flush()
    for (const segment of before) leaveSegment(store, segment, imageId, writes.findings)
  }
  const record: ImageRecord = {
    v: 2, id: imageId, image: inv.image, analyzerSet: inv.analyzerSet, createdAt: inv.createdAt, segments: encodeIds(segments), postings,
  }
  if (order.some((at, i) => at !== i)) record.order = encodeIds(order)
  if (inv.os) record.os = inv.os
  if (inv.warnings?.length) record.warnings = inv.warnings
  writeImage(store, record)
  adjustPostingCount(store, postings - (previous?.postings ?? 0))
}

/** A segment seen for the first time: its packages (and variants, matched now) and postings. */
function createSegment(
  store: Store, hash: string, packages: readonly Package[], os: OsInfo | undefined, release: OsInfo | undefined,
  given: readonly (readonly Finding[])[] | undefined, matcher: Matcher, writes: TxnWrites,
): { id: number; postings: number } {
  const { appends, findings } = writes
  const ids: number[] = []
  const distinct = new Set<number>()
  let postings = 0
  packages.forEach((pkg, i) => {
    const p = internPackage(store, pkg, os, () => postingKeys(matcher, pkg, os))
    ids.push(p.id)
    if (p.variantCreated) {
      const found = given ? given[i]! : matcher.matchPackage(store, pkg, os)
      if (found.length) findings.replace(p.variant, [], found)
    }
    const keys = variantKeys(store, p.variant) ?? []
    if (p.created) for (const key of keys) addPosting(store, key, p.variant, p.id)
    if (!distinct.has(p.id)) {
      distinct.add(p.id)
      postings += keys.length
    }
  })
  const id = nextId(store, SEGMENT_COUNTER)
  const layer = packages[0]?.layer
  writeSegment(store, id, { packages: encodeIds(ids), hash, postings, ...(release ? { os: release } : {}), ...(layer !== undefined ? { layer } : {}) })
  for (const pkg of distinct) appends.link(pkg, id)
  return { id, postings }
}

/** The image leaves the segment; a segment nobody holds goes, with packages and variants only it had. */
function leaveSegment(store: Store, segment: number, image: number, findings: FindingsWriter): void {
  if (removeImageFromSegment(store, segment, image)) return
  const rec = readSegment(store, segment)
  if (!rec) return
  for (const pkg of dropSegment(store, segment, rec, new Set(decodeIds(rec.packages)))) {
    const p = readPackage(store, pkg)
    const variant = p && readVariant(store, p.variant)
    if (!p || !variant) continue
    for (const key of variant.keys) removePosting(store, key, p.variant, pkg)
    dropPackage(store, pkg, p, rec.os)
    const first = variant.keys[0]
    if (first !== undefined && variantInUse(store, first, p.variant)) continue
    findings.dropVariant(p.variant, advisoryIdsUnder(store, variant.keys, readCache(store)))
    dropVariant(store, p.variant, variant)
  }
}

/**
 * matchInventory's output is matchPackage's per package, concatenated in package order; this
 * cuts it back into per-package lists (a package's run is the findings naming its pkgKey).
 */
function splitByPackage(packages: readonly Package[], findings: readonly Finding[]): Finding[][] {
  const out: Finding[][] = packages.map(() => [])
  const byKey = new Map<string, number[]>()
  packages.forEach((p, i) => {
    const k = packageKey(p)
    const list = byKey.get(k)
    if (list) list.push(i)
    else byKey.set(k, [i])
  })
  let cursor = 0
  let lastKey = ''
  let lastIndex = -1
  for (const f of findings) {
    const candidates = byKey.get(f.pkgKey)
    if (!candidates) continue
    // Consecutive findings of one pkgKey belong to the same package; a later run goes to the next
    // package with that key (identical pkgKeys happen only for duplicate entries of one package).
    let target: number
    const repeats = f.pkgKey === lastKey && lastIndex >= 0 && out[lastIndex]!.some((g) => g.id === f.id)
    if (f.pkgKey === lastKey && lastIndex >= 0 && !repeats) target = lastIndex
    else target = candidates.find((i) => i >= cursor) ?? candidates[0]!
    if (target !== lastIndex) cursor = target + 1
    lastKey = f.pkgKey
    lastIndex = target
    out[target]!.push(f)
  }
  return out
}
