import type { Store } from '../store/env.js'
import { fingerprint, updateSourceMeta, writeRecordsInTxn, type RecordOutcome, type StoredRecord } from '../store/advisories.js'
import type { ExploitUpdate, FeedDelta, ImportOptions, ImportReport } from '../match/index.js'
import type { AdvisoryRecord } from '../match/model.js'
import { applyExploitData } from './exploit.js'
import { readFeedPath } from './read.js'
import { DEFAULT_LIMITS, type ReadLimits } from './types.js'

/** Which of two copies of one record key an import keeps: the later `modified`, then the greater fingerprint. */
interface Copy {
  modified?: string
  fingerprint: string
}

function copyOf(record: { modified?: string }, fp: string): Copy {
  return record.modified ? { modified: record.modified, fingerprint: fp } : { fingerprint: fp }
}

function wins(a: Copy, b: Copy): boolean {
  if (a.modified !== b.modified) {
    if (a.modified === undefined || b.modified === undefined) return a.modified !== undefined
    return a.modified > b.modified
  }
  return a.fingerprint > b.fingerprint
}

/**
 * Imports feed files and directories into the store. Records are written in batches, one LMDB
 * transaction each (atomic per batch); a bad record or file is reported and skipped, never fatal.
 * The delta is computed against what was stored before, by record key, `modified` and content
 * fingerprint (see store/advisories.ts).
 *
 * One key may come in more than one copy (the same OSV id in two files with different content).
 * The import keeps one by `wins` whatever the file order, reports each other copy as
 * ERR_FEED_DUPLICATE_ID, and so importing the same paths again changes nothing. A copy with the
 * stored record's `modified` that loses to it on content is held back until the end of the
 * import: if the copy that beats it comes later it is never written, and if none comes it is
 * written then (the feed changed).
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
  // Per key of this import: the copy kept so far, and the outcome it was counted under once written.
  const copies = new Map<string, Copy & { file: string; held: boolean; outcome?: RecordOutcome }>()
  const held = new Map<string, AdvisoryRecord>()

  const take = (record: AdvisoryRecord) => {
    const copy = copyOf(record, fingerprint(record))
    const earlier = copies.get(record.key)
    if (earlier) {
      const keep = wins(copy, earlier)
      report.duplicates = (report.duplicates ?? 0) + 1
      report.errors.push({
        code: 'ERR_FEED_DUPLICATE_ID', file: currentFile, id: record.id,
        message: `${record.key} is also in ${earlier.file}; kept the copy from ${keep ? currentFile : earlier.file} (later modified, then content)`,
      })
      if (!keep) return
      copies.set(record.key, { ...earlier, ...copy, file: currentFile })
      if (earlier.held) held.set(record.key, record)
      else queue(record)
      return
    }
    // Only a tie on `modified` is held: an older copy the store keeps out anyway (store/advisories.ts),
    // so re-importing an old snapshot holds nothing in memory.
    const stored = store.advisoryRecords.get(record.key) as StoredRecord | undefined
    const hold = stored !== undefined && stored.modified === copy.modified && stored.fingerprint > copy.fingerprint
    copies.set(record.key, { ...copy, file: currentFile, held: hold })
    if (hold) held.set(record.key, record)
    else queue(record)
  }
  const queue = (record: AdvisoryRecord) => {
    batch.push(record)
    if (batch.length >= batchSize) flush()
  }

  const flush = () => {
    if (batch.length === 0) return
    const records = batch
    batch = []
    opts.onRecords?.(records)
    const { outcomes, touched } = writeBatch(store, records)
    outcomes.forEach((outcome, i) => {
      const r = records[i]!
      const copy = copies.get(r.key)!
      // A later copy that won rewrites the key: the key is counted once, under its first outcome
      // unless that was "unchanged".
      if (copy.outcome !== undefined) {
        if (copy.outcome !== 'unchanged' || outcome === 'unchanged' || outcome === 'absent') return
        report.unchanged--
      }
      copy.outcome = outcome
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
          take(item.record)
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
  for (const record of held.values()) queue(record)
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
export function importRecords(store: Store, given: readonly AdvisoryRecord[]): { added: number; changed: number; unchanged: number; withdrawn: number; duplicates: number; packageKeys: string[]; delta: FeedDelta } {
  const records = oneCopyPerKey(given)
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
  return { ...counts, duplicates: given.length - records.length, packageKeys: delta.packageKeys, delta }
}

/** The copy `wins` keeps of each key, in the order the keys first appear. */
function oneCopyPerKey(records: readonly AdvisoryRecord[]): readonly AdvisoryRecord[] {
  if (new Set(records.map((r) => r.key)).size === records.length) return records
  const kept = new Map<string, { record: AdvisoryRecord; copy: Copy }>()
  for (const record of records) {
    const copy = copyOf(record, fingerprint(record))
    const earlier = kept.get(record.key)
    if (!earlier || wins(copy, earlier.copy)) kept.set(record.key, { record, copy })
  }
  return [...kept.values()].map((k) => k.record)
}
