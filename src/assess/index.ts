/**
 * Continuous assessment: the package → image index and feed-delta re-assessment.
 *   indexImage / removeImage            — store an image (inventory, postings, findings) atomically
 *   applyDelta / rescoreExploit         — re-assess after a feed delta / an EPSS-KEV update
 *   importAndReassess                   — import feed files, the work queued in each import commit (what `vigil db import` calls)
 *   reassessAfterImport                 — both, from an ImportReport
 *   queueReassessment                   — queue that work inside an import's own transaction (the daemon's feed consumer)
 *   resumePending                       — finish work a crash interrupted (call once after opening)
 *   reassessmentKeys / reassessKeys     — re-match all (or some images') variants, in batches that yield (re-assess jobs)
 *   warmIndex                           — hold the index's image lists and digests in memory (long-lived processes)
 *   imageFindings                       — an image's current findings
 */
import { storeFault, type Store } from '../store/env.js'
import { importFeeds, type ImportOptions, type ImportReport } from '../match/index.js'
import { queueWork, resumePending, type ReassessOptions, type ReassessSummary } from './delta.js'
import { warmIndex as warmSegments } from '../store/segments.js'
import { digestTable } from '../store/images.js'

export { indexImage, indexImages, removeImage, type IndexEntry, type IndexOptions } from './index-image.js'
export {
  applyDelta, rescoreExploit, resumePending, queueWork, pendingWork, diffFindings, reassessKeys, reassessmentKeys,
  type FindingsChanged, type FullReassessOptions, type ChangedFinding, type ReassessOptions, type ReassessSummary, type DeltaInput,
} from './delta.js'
export { defaultMatcher, postingKeys, type Matcher } from './matcher.js'
export { imageFindings } from '../store/findings.js'
export { readInventory } from '../store/images.js'
export { ensureSchema, rebuildIndex } from './rebuild.js'

/**
 * Loads what every feed delta walks, once: the segments' image lists, packed (store/segments.ts),
 * and the id → digest table. A daemon calls it at start; afterwards its own index writes keep both
 * current, and another process's writes make it read the lists again on the next delta.
 */
export function warmIndex(store: Store): { segments: number; images: number } {
  const warmed = warmSegments(store)
  digestTable(store)
  return warmed
}

/** The parts of match/index.ts's ImportReport that re-assessment reads. */
export interface ImportOutcome {
  delta: { packageKeys: readonly string[]; ids?: readonly string[] }
  exploit?: { changedCves: readonly string[] }
}

/**
 * What `vigil db import` calls after importFeeds: re-assess the images the advisory delta touched,
 * then re-score findings whose CVE got new EPSS/KEV data. Both are queued durably first (one
 * commit), so a crash at any point after this starts is finished by `resumePending`; an importer
 * that wants no window at all calls `queueReassessment` inside its own import transaction and
 * `resumePending` after it (the daemon's feed consumer does).
 */
export function reassessAfterImport(store: Store, report: ImportOutcome, opts: ReassessOptions = {}): ReassessSummary {
  store.root.transactionSync(() => queueReassessment(store, report))
  return resumePending(store, opts)
}

/**
 * `vigil db import`: imports feed files with the re-assessment work each batch calls for queued
 * inside that batch's own transaction, then runs the queue (work an earlier, interrupted import
 * left included). A kill -9 at any instant leaves records and their work committed together or
 * not at all, so running the import again ends with the index a clean import gives.
 */
export async function importAndReassess(store: Store, paths: readonly string[], opts: { import?: ImportOptions; reassess?: ReassessOptions } = {}): Promise<{ report: ImportReport; reassessed: ReassessSummary }> {
  try {
    const report = await importFeeds(store, paths, {
      ...opts.import,
      onCommit: (c) => {
        queueWork(store, 'keys', c.packageKeys, c.ids)
        queueWork(store, 'cves', c.changedCves, c.changedCves)
        opts.import?.onCommit?.(c)
      },
    })
    return { report, reassessed: resumePending(store, opts.reassess) }
  } catch (err) {
    // A full disk is ERR_STORE (retryable): what committed is whole, and running it again finishes.
    throw await storeFault(err)
  }
}

/** Queues the work an import calls for: its package keys, then its changed CVEs. */
export function queueReassessment(store: Store, report: ImportOutcome): void {
  const cves = report.exploit?.changedCves ?? []
  queueWork(store, 'keys', report.delta.packageKeys, report.delta.ids ?? [])
  queueWork(store, 'cves', cves, cves)
}
