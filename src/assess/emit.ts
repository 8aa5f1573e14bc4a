import type { Store } from '../store/env.js'
import type { Finding } from '../match/types.js'
import type { Package } from '../types.js'
import { digestOf, digestTable, lastImageId, lastSegmentId, readPackage, type VariantRecord } from '../store/images.js'
import { packageIdsOfVariant, packagesUnder } from '../store/postings.js'
import { indexReader, type Span } from '../store/segments.js'
import { materialize } from '../store/findings.js'
import type { ChangedFinding, FindingsChanged } from './delta.js'

/** A changed variant of one batch, with its diff (assess/delta.ts runWork). */
export interface Change {
  variant: number
  record: VariantRecord
  diff: VariantDiff
  /** The variant's package ids, when the batch read them with its key's postings. */
  packages: readonly number[] | undefined
}

/** What changed in a variant's findings; `causes`: the advisory ids behind it, sorted. */
export interface VariantDiff {
  added: Finding[]
  removed: Finding[]
  changed: ChangedFinding[]
  causes: string[]
}

/**
 * One event per image. A changed package's findings are shown with the package's own pkgKey,
 * purl and path once, and shared by every layer and image that holds it; they carry no `layer`
 * (a feed delta never moves a package between layers, and a changed package sits in thousands of
 * application layers: one copy per layer was most of a large delta's cost). Work is then done
 * per segment (the packages one layer gave an image): a segment's diffs are merged once, images
 * are walked straight off the segments' id lists (kept in memory, store/segments.ts) and marked
 * in a typed array with the segment that reached them, and only images reached through several
 * segments (a changed base package and a changed application package, say) need a merge, once
 * per combination of segments. Images holding the same segments share arrays.
 */
export function emit(store: Store, changes: Change[], onChange: (e: FindingsChanged) => void): number {
  // Ids past the counters were written after this read: they hold nothing this delta changed.
  const segmentLimit = lastSegmentId(store) + 1
  const imageLimit = lastImageId(store) + 1
  const tables = takeTables(segmentLimit, imageLimit)
  try {
    return emitWith(store, changes, onChange, tables, segmentLimit, imageLimit)
  } finally {
    giveBack(tables)
  }
}

function emitWith(store: Store, changes: Change[], onChange: (e: FindingsChanged) => void, tables: Tables, segmentLimit: number, imageLimit: number): number {
  const index = indexReader(store)
  // The changed packages' diffs per segment, in first-seen order: slot[segment] - 1 indexes
  // `shownIn` (a typed table: a popular package sits in thousands of segments).
  const { slot, mark, reached } = tables
  const segments = tables.segments
  const shownIn: (VariantDiff | VariantDiff[])[] = []
  // Each package's shown diff gets a number: segments holding the same packages share a merge.
  const shownNo = new Map<VariantDiff, number>()
  const packagesOf = packageReader(store, changes)
  for (const c of changes) {
    if (c.diff.causes.length === 0) continue
    for (const pkg of packagesOf(c)) {
      const p = readPackage(store, pkg)
      if (!p) continue
      const shown = showDiff(c.diff, p.pkg, c.record.pkg)
      // Packages that show alike share their variant's diff: it is numbered once.
      if (!shownNo.has(shown)) shownNo.set(shown, shownNo.size)
      for (const segment of index.segmentsOf(pkg)) {
        if (segment >= segmentLimit) continue
        const at = slot[segment]!
        if (at === 0) {
          slot[segment] = shownIn.push(shown)
          segments.push(segment)
        } else {
          const prior = shownIn[at - 1]!
          if (Array.isArray(prior)) prior.push(shown)
          else shownIn[at - 1] = [prior, shown]
        }
      }
    }
  }
  // mark[image]: 0 unreached, t > 0 reached through segment t - 1 alone, t < 0 through the
  // segments listed in several[-t - 1]; reached[0 … tables.marked) lists the images marked.
  const diffs: VariantDiff[] = []
  const several: number[][] = []
  const span: Span = { ids: [], from: 0, to: 0 }
  const mergedShown = new Map<string, VariantDiff>()
  for (let at = 0; at < segments.length; at++) {
    const shown = shownIn[at]!
    if (Array.isArray(shown)) {
      const key = shown.map((d) => shownNo.get(d)).join(',')
      let m = mergedShown.get(key)
      if (!m) mergedShown.set(key, (m = mergeDiffs(shown)))
      diffs.push(m)
    } else diffs.push(shown)
    const { ids, from, to } = index.imageSpan(segments[at]!, span)
    let marked = tables.marked
    for (let i = from; i < to; i++) {
      const image = ids[i]!
      if (image >= imageLimit) continue
      const prior = mark[image]!
      if (prior === 0) {
        mark[image] = at + 1
        reached[marked++] = image
      } else if (prior > 0) {
        mark[image] = -several.push([prior - 1, at])
      } else several[-prior - 1]!.push(at)
    }
    tables.marked = marked
  }
  const digests = digestTable(store)
  const merged = new Map<string, VariantDiff>()
  let events = 0
  const send = (image: number, tag: number): void => {
    const digest = digests[image] ?? digestOf(store, image)
    if (digest === undefined) return
    let d: VariantDiff
    if (tag > 0) d = diffs[tag - 1]!
    else {
      const at = several[-tag - 1]!
      const key = at.join(',')
      let m = merged.get(key)
      if (!m) merged.set(key, (m = mergeDiffs(at.map((i) => diffs[i]!))))
      d = m
    }
    onChange({ digest, added: d.added, removed: d.removed, changed: d.changed, causes: d.causes })
    events++
  }
  // Reaching a good share of the fleet, walk the marks in id order: digests and marks are then
  // read front to back instead of at random (tens of thousands of cache misses). Two loops, not
  // one with a choice per image: the walk runs up to once per image of the fleet.
  if (tables.marked > imageLimit >>> 4) {
    for (let image = 0; image < imageLimit; image++) {
      const tag = mark[image]!
      if (tag !== 0) send(image, tag)
    }
  } else {
    for (let r = 0; r < tables.marked; r++) {
      const image = reached[r]!
      send(image, mark[image]!)
    }
  }
  return events
}

/**
 * emit's typed tables, kept from one delta to the next and zeroed where they were written:
 * allocating and zeroing tables of every segment and image id per delta cost more than the
 * marking itself. A re-entrant delta (from inside onChange) gets tables of its own.
 */
interface Tables {
  slot: Int32Array
  mark: Int32Array
  reached: Int32Array
  /** Segments with a slot, in first-seen order. */
  segments: number[]
  /** Entries of `reached` in use. */
  marked: number
  busy: boolean
}

let spare: Tables | undefined

function takeTables(segments: number, images: number): Tables {
  const grown = (n: number) => new Int32Array(n + (n >> 3))
  let t = spare
  if (!t || t.busy) t = { slot: grown(segments), mark: grown(images), reached: grown(images), segments: [], marked: 0, busy: false }
  else {
    if (t.slot.length < segments) t.slot = grown(segments)
    if (t.mark.length < images) {
      t.mark = grown(images)
      t.reached = grown(images)
    }
  }
  t.busy = true
  spare = t
  return t
}

function giveBack(t: Tables): void {
  for (const segment of t.segments) t.slot[segment] = 0
  t.segments.length = 0
  if (t.marked > t.mark.length >>> 4) t.mark.fill(0)
  else for (let i = 0; i < t.marked; i++) t.mark[t.reached[i]!] = 0
  t.marked = 0
  t.busy = false
}

/**
 * The package ids of each changed variant: those the batch read with its key's postings, else
 * (an EPSS/KEV re-score) read here, a key with many changed variants in one pass over its
 * postings (kept per index generation by packagesUnder) instead of one range read per variant.
 */
function packageReader(store: Store, changes: readonly Change[]): (c: Change) => readonly number[] {
  const perKey = new Map<string, number>()
  for (const c of changes) {
    const key = c.record.keys[0]
    if (key !== undefined && !c.packages) perKey.set(key, (perKey.get(key) ?? 0) + 1)
  }
  return (c) => {
    if (c.packages) return c.packages
    const key = c.record.keys[0]
    if (key === undefined) return []
    if ((perKey.get(key) ?? 0) < WHOLE_KEY_READ) return packageIdsOfVariant(store, key, c.variant)
    return packagesUnder(store, key).get(c.variant) ?? []
  }
}

const WHOLE_KEY_READ = 16

/**
 * A variant's diff shown with one of its packages (its pkgKey, purl and path). The diff's findings
 * are shown for the variant's own package already (the first package found of the variant): a
 * package that shows alike, most often the only one, takes them as they are. Copying them again
 * was ~0.13 ms of a delta that changes 644 versions of one package.
 */
function showDiff(diff: VariantDiff, pkg: Package, variantPkg: Package): VariantDiff {
  if (showsAlike(pkg, variantPkg)) return diff
  return {
    added: diff.added.map((f) => materialize(f, pkg)),
    removed: diff.removed.map((f) => materialize(f, pkg)),
    changed: diff.changed.map((x) => ({ before: materialize(x.before, pkg), after: materialize(x.after, pkg) })),
    causes: diff.causes,
  }
}

/** Whether materialize (store/finding-groups.ts) shows a finding the same for both packages. */
function showsAlike(a: Package, b: Package): boolean {
  return a === b || (a.ecosystem === b.ecosystem && a.name === b.name && a.version === b.version && a.path === b.path && a.purl === b.purl && a.layer === b.layer)
}

function mergeDiffs(diffs: readonly VariantDiff[]): VariantDiff {
  const first = diffs[0]!
  const added = first.added.slice()
  const removed = first.removed.slice()
  const changed = first.changed.slice()
  // The packages of one variant share its causes array: no set to build then.
  let causes = first.causes
  for (let i = 1; i < diffs.length; i++) {
    const d = diffs[i]!
    for (const f of d.added) added.push(f)
    for (const f of d.removed) removed.push(f)
    for (const x of d.changed) changed.push(x)
    if (d.causes !== causes) causes = [...new Set([...causes, ...d.causes])].sort()
  }
  return { added, removed, changed, causes }
}
