import { imageFindings, indexImage, readInventory, type FindingsChanged } from '../assess/index.js'
import { matchInventory, type Finding } from '../match/index.js'
import { findingFingerprint } from '../store/findings.js'
import type { Store } from '../store/env.js'
import { listImages } from '../store/images.js'
import type { ReassessJob } from './messages.js'

export interface ReassessOutcome {
  images: number
  missing: string[]
  events: FindingsChanged[]
}

/**
 * Re-matches stored inventories against the advisory data as it is now (after a manual import,
 * or to check). Only images whose findings differ are rewritten, and each yields one
 * FindingsChanged. The inventories come from LMDB: nothing is pulled.
 */
export function runReassess(store: Store, job: ReassessJob, signal: AbortSignal): ReassessOutcome {
  const digests = job.all ? [...listImages(store)].map((r) => r.image.digest as string) : [...new Set(job.digests ?? [])]
  const missing: string[] = []
  const events: FindingsChanged[] = []
  let images = 0
  for (const digest of digests) {
    signal.throwIfAborted()
    const inventory = readInventory(store, digest)
    if (!inventory) {
      missing.push(digest)
      continue
    }
    images++
    const before = imageFindings(store, digest) ?? []
    const after = matchInventory(store, inventory)
    const diff = imageDiff(before, after)
    if (!diff) continue
    indexImage(store, inventory, after)
    events.push({ digest, ...diff })
  }
  return { images, missing, events }
}

/** Image-level diff: one advisory can hit several packages, so findings are keyed by package and id. */
function imageDiff(before: readonly Finding[], after: readonly Finding[]): Omit<FindingsChanged, 'digest'> | undefined {
  const key = (f: Finding) => `${f.pkgKey}\0${f.id}`
  const old = new Map(before.map((f) => [key(f), f]))
  const added: Finding[] = []
  const changed: FindingsChanged['changed'] = []
  for (const f of after) {
    const prior = old.get(key(f))
    if (!prior) added.push(f)
    else if (findingFingerprint(prior) !== findingFingerprint(f)) changed.push({ before: prior, after: f })
    old.delete(key(f))
  }
  const removed = [...old.values()]
  if (added.length + removed.length + changed.length === 0) return undefined
  const causes = [...new Set([...added, ...removed, ...changed.map((c) => c.after)].map((f) => f.id))].sort()
  return { added, removed, changed, causes }
}
