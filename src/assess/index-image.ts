import type { Store } from '../store/env.js'
import type { Inventory, Package } from '../types.js'
import { packageKey, type Finding } from '../match/types.js'
import { VigilError } from '../errors.js'
import {
  decodeIds, dropPackage, dropVariant, encodeIds, imageIdOf, internImage, internPackage, readImage, readPackage,
  readVariant, removeImageRecord, variantKeys, writeImage, type ImageRecord,
} from '../store/images.js'
import { addPosting, packageInUse, removePosting, variantInUse } from '../store/postings.js'
import { dropVariantFindings, sameFinding, materializeAll, readVariantFindings, writeVariantFindings } from '../store/findings.js'
import { defaultMatcher, postingKeys, type Matcher } from './matcher.js'

export interface IndexEntry {
  inventory: Inventory
  /**
   * What matchInventory gave for this inventory. When absent, each variant new to the store is
   * matched here and variants already stored keep their (current) findings.
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
  // Images of one batch share most packages (base layers): intern each distinct one once.
  const interned = new Map<string, { id: number; variant: number }>()
  store.root.transactionSync(() => {
    for (const e of entries) indexInTxn(store, e, matcher, interned)
  })
}

/** Removes an image and everything only it referenced. Returns false when it was not indexed. */
export function removeImage(store: Store, digest: string): boolean {
  return store.root.transactionSync(() => {
    const rec = readImage(store, digest)
    const id = imageIdOf(store, digest)
    if (!rec || id === undefined) return false
    unpost(store, rec, id, new Set())
    removeImageRecord(store, digest, id)
    return true
  })
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

function indexInTxn(store: Store, entry: IndexEntry, matcher: Matcher, interned: Map<string, { id: number; variant: number }>): void {
  const inv = entry.inventory
  const imageId = internImage(store, inv.image.digest)
  const previous = readImage(store, inv.image.digest)
  const given = entry.findings ? splitByPackage(inv.packages, entry.findings) : undefined

  const ids: number[] = []
  const posted = new Set<number>()
  const osKey = JSON.stringify(inv.os ?? null)
  inv.packages.forEach((pkg, i) => {
    const memoKey = `${osKey}\n${JSON.stringify(pkg)}`
    const memo = interned.get(memoKey)
    const p = memo ? { ...memo, created: false, variantCreated: false } : internPackage(store, pkg, inv.os, () => postingKeys(matcher, pkg, inv.os))
    if (!memo) interned.set(memoKey, { id: p.id, variant: p.variant })
    ids.push(p.id)
    if (p.variantCreated) {
      const found = given ? given[i]! : matcher.matchPackage(store, pkg, inv.os)
      if (found.length) writeVariantFindings(store, p.variant, [], found)
    } else if (given) {
      // The scan's findings are the newest truth for this variant (they were matched just now).
      const stored = readVariantFindings(store, p.variant)
      if (!sameFindings(materializeAll(stored, pkg), given[i]!)) writeVariantFindings(store, p.variant, stored, materializeAll(given[i]!, readVariant(store, p.variant)!.pkg))
    }
    if (posted.has(p.id)) return
    posted.add(p.id)
    for (const key of variantKeys(store, p.variant) ?? []) addPosting(store, key, p.variant, p.id, imageId)
  })
  // Dropped records may sit in the batch memo: start it afresh rather than hand out a dead id.
  if (previous && unpost(store, previous, imageId, posted)) interned.clear()

  const record: ImageRecord = {
    v: 1, id: imageId, image: inv.image, analyzerSet: inv.analyzerSet, createdAt: inv.createdAt, packages: encodeIds(ids),
  }
  if (inv.os) record.os = inv.os
  writeImage(store, record)
}

/** Drops an image's postings for packages it no longer has; packages and variants nobody holds go too. */
function unpost(store: Store, rec: ImageRecord, imageId: number, keep: Set<number>): boolean {
  let dropped = false
  for (const id of new Set(decodeIds(rec.packages))) {
    if (keep.has(id)) continue
    const p = readPackage(store, id)
    const variant = p && readVariant(store, p.variant)
    if (!p || !variant) continue
    for (const key of variant.keys) removePosting(store, key, p.variant, id, imageId)
    const first = variant.keys[0]
    if (first === undefined || packageInUse(store, first, p.variant, id)) continue
    dropPackage(store, id, p, rec.os)
    dropped = true
    if (variantInUse(store, first, p.variant)) continue
    dropVariantFindings(store, p.variant)
    dropVariant(store, p.variant, variant)
  }
  return dropped
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

function sameFindings(a: readonly Finding[], b: readonly Finding[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!sameFinding(a[i]!, b[i]!)) return false
  return true
}
