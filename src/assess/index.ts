/**
 * Continuous assessment: the package → image index and feed-delta re-assessment.
 *   indexImage / removeImage            — store an image (inventory, postings, findings) atomically
 *   applyDelta / rescoreExploit         — re-assess after a feed delta / an EPSS-KEV update
 *   reassessAfterImport                 — both, from an ImportReport (what `vigil db import` calls)
 *   resumePending                       — finish work a crash interrupted (call once after opening)
 *   imageFindings                       — an image's current findings
 */
import type { Store } from '../store/env.js'
import { applyDelta, rescoreExploit, resumePending, type ReassessOptions, type ReassessSummary } from './delta.js'

export { indexImage, indexImages, removeImage, type IndexEntry, type IndexOptions } from './index-image.js'
export {
  applyDelta, rescoreExploit, resumePending, queueWork, pendingWork, diffFindings,
  type FindingsChanged, type ChangedFinding, type ReassessOptions, type ReassessSummary, type DeltaInput,
} from './delta.js'
export { defaultMatcher, postingKeys, type Matcher } from './matcher.js'
export { imageFindings } from '../store/findings.js'
export { readInventory } from '../store/images.js'
export { ensureSchema, rebuildIndex } from './rebuild.js'

/** The parts of match/index.ts's ImportReport that re-assessment reads. */
export interface ImportOutcome {
  delta: { packageKeys: readonly string[]; ids?: readonly string[] }
  exploit?: { changedCves: readonly string[] }
}

/**
 * What `vigil db import` (and the daemon's feed consumer) calls after importFeeds: re-assess the
 * images the advisory delta touched, then re-score findings whose CVE got new EPSS/KEV data.
 */
export function reassessAfterImport(store: Store, report: ImportOutcome, opts: ReassessOptions = {}): ReassessSummary {
  const total = applyDelta(store, report.delta, opts)
  const cves = report.exploit?.changedCves ?? []
  if (cves.length === 0) return total
  const more = rescoreExploit(store, cves, opts)
  return {
    works: total.works + more.works,
    items: total.items + more.items,
    variants: total.variants + more.variants,
    changedVariants: total.changedVariants + more.changedVariants,
    events: total.events + more.events,
    batches: total.batches + more.batches,
  }
}
