import type { Store } from '../store/env.js'
import { updateSourceMeta, writeRecordsInTxn, type RecordOutcome } from '../store/advisories.js'
import type { ExploitUpdate, FeedDelta, ImportOptions, ImportReport } from '../match/index.js'
import type { AdvisoryRecord } from '../match/model.js'
import { applyExploitData } from './exploit.js'
import { readFeedPath } from './read.js'
import { DEFAULT_LIMITS, type ReadLimits } from './types.js'

/**
 * Imports feed files and directories into the store. Records are written in batches, one LMDB
 * transaction each (atomic per batch); a bad record or file is reported and skipped, never fatal.
 * The delta is computed against what was stored before, by record key, `modified` and content
 * fingerprint (see store/advisories.ts).
 */
export async function importFeeds(store: Store, paths: readonly string[], opts: ImportOptions = {}): Promise<ImportReport> {
  const started = performance.now()
  const limits: ReadLimits = {
    maxRecordBytes: opts.maxRecordBytes ?? DEFAULT_LIMITS.maxRecordBytes,
    maxFileBytes: opts.maxFileBytes ?? DEFAULT_LIMITS.maxFileBytes,
  }
  const batchSize = opts.batchSize ?? 2000
  const report: ImportReport = {
    files: 0, sources: {}, added: 0, changed: 0, unchanged: 0, withdrawn: 0, skipped: 0, errors: [],
    exploit: { epss: 0, kev: 0, changedCves: [] },
    delta: { changed: [], withdrawn: [], ids: [], packageKeys: [] },
    elapsedMs: 0,
  }
  const ids = new Set<string>()
  const packageKeys = new Set<string>()
  const changedCves = new Set<string>()
  let batch: AdvisoryRecord[] = []
  let currentFile = ''
  let currentFormat = ''
  let processed = 0

  const flush = () => {
    if (batch.length === 0) return
    const records = batch
    batch = []
    opts.onRecords?.(records)
    const { outcomes, touched } = writeBatch(store, records)
    outcomes.forEach((outcome, i) => {
      const r = records[i]!
      if (outcome === 'added' || outcome === 'changed') {
        report[outcome]++
        report.delta.changed.push(r.key)
        ids.add(r.id)
      } else if (outcome === 'withdrawn') {
        report.withdrawn++
        report.delta.withdrawn.push(r.key)
        ids.add(r.id)
      } else report.unchanged++
    })
    for (const k of touched) packageKeys.add(k)
    processed += records.length
    opts.onProgress?.({ file: currentFile, records: processed })
  }

  for (const path of paths) {
    for await (const item of readFeedPath(path, limits)) {
      switch (item.kind) {
        case 'file':
          report.files++
          currentFile = item.file
          currentFormat = item.format
          report.sources[item.format] ??= 0
          break
        case 'record': {
          report.sources[currentFormat] = (report.sources[currentFormat] ?? 0) + 1
          batch.push(item.record)
          if (batch.length >= batchSize) flush()
          break
        }
        case 'error':
          report.errors.push(item.error)
          if (item.error.code !== 'ERR_FEED_RANGE_UNSUPPORTED') report.skipped++
          break
        case 'epss':
        case 'kev': {
          const update: ExploitUpdate = item.kind === 'epss' ? { epss: item.rows } : { kev: item.cves }
          if (item.date) update[item.kind === 'epss' ? 'epssDate' : 'kevDate'] = item.date
          for (const c of applyExploitData(store, update).changedCves) changedCves.add(c)
          if (item.kind === 'epss') report.exploit.epss += item.rows.size
          else report.exploit.kev += item.cves.size
          break
        }
      }
    }
  }
  flush()
  report.exploit.changedCves = [...changedCves].sort()
  report.delta.ids = [...ids].sort()
  report.delta.packageKeys = [...packageKeys].sort()
  report.elapsedMs = Math.round(performance.now() - started)
  return report
}

/** One atomic batch: the records and the per-source counters that count them, in one transaction. */
function writeBatch(store: Store, records: readonly AdvisoryRecord[]): { outcomes: RecordOutcome[]; touched: Set<string> } {
  return store.root.transactionSync(() => {
    const result = writeRecordsInTxn(store, records)
    const perSource = new Map<string, { net: number; lastModified?: string }>()
    result.outcomes.forEach((outcome, i) => {
      const r = records[i]!
      const s = perSource.get(r.source) ?? { net: 0 }
      if (outcome === 'added') s.net++
      if (outcome === 'withdrawn') s.net--
      if (r.modified && (!s.lastModified || r.modified > s.lastModified)) s.lastModified = r.modified
      perSource.set(r.source, s)
    })
    for (const [source, s] of perSource) updateSourceMeta(store, source, s.net, s.lastModified)
    return result
  })
}

/**
 * Writes already-converted records (the daemon's feed-delta consumer, test adapters) as one
 * atomic batch. Same outcome and delta rules as importFeeds.
 */
export function importRecords(store: Store, records: readonly AdvisoryRecord[]): { added: number; changed: number; unchanged: number; withdrawn: number; packageKeys: string[]; delta: FeedDelta } {
  const { outcomes, touched } = writeBatch(store, records)
  const delta: FeedDelta = { changed: [], withdrawn: [], ids: [], packageKeys: [...touched].sort() }
  const ids = new Set<string>()
  const counts = { added: 0, changed: 0, unchanged: 0, withdrawn: 0 }
  outcomes.forEach((outcome, i) => {
    const r = records[i]!
    if (outcome === 'added' || outcome === 'changed') delta.changed.push(r.key)
    if (outcome === 'withdrawn') delta.withdrawn.push(r.key)
    if (outcome === 'absent') counts.unchanged++
    else counts[outcome]++
    if (outcome !== 'unchanged' && outcome !== 'absent') ids.add(r.id)
  })
  delta.ids = [...ids].sort()
  return { ...counts, packageKeys: delta.packageKeys, delta }
}
