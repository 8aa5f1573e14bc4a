/**
 * Public API of vulnerability knowledge: feed import (with the delta it produced), matching,
 * exploit data. The continuous-assessment side builds on exactly these functions:
 *   - `importFeeds` → `report.delta.packageKeys` → postings → (image, package) pairs
 *   - `matchPackage` for each pair gives exactly what `matchInventory` gives for that package
 *   - `applyExploitData` → changed CVEs → re-score only findings that carry them
 */
import type { Store } from '../store/env.js'
import type { Inventory, OsInfo, Package } from '../types.js'
import type { Finding } from './types.js'
import type { AdvisoryRecord } from './model.js'

export type { Finding, Severity, FixState, CvssScore } from './types.js'
export type { AdvisoryRecord, AffectedEntry, CompiledAdvisory } from './model.js'
export { advisoryVersion, affectedKeys, storeKey, splitStoreKey, normalizePackageName, normalizeEcosystem } from './keys.js'
export { matchPackage, matchInventory } from './matcher.js'
export { severityOf, cvssBaseScore } from './severity.js'
export { riskScore, type RiskInput } from './risk.js'
export { importFeeds, importRecords } from '../feeds/import.js'
export { applyExploitData } from '../feeds/exploit.js'

/** Stable per-record error codes in an import report (a bad record is skipped, never fatal). */
export type RecordErrorCode =
  | 'ERR_FEED_INVALID' // JSON/CSV does not parse, or a required field is missing
  | 'ERR_FEED_FORMAT_UNKNOWN' // the file is none of the known formats
  | 'ERR_FEED_RECORD_TOO_LARGE' // a record (or zip entry) is over the size limit
  | 'ERR_FEED_RANGE_UNSUPPORTED' // a range type other than ECOSYSTEM/SEMVER/GIT (GIT is ignored silently)
  | 'ERR_FEED_UNREADABLE' // the file could not be read (missing, permissions, truncated zip)
  | 'ERR_FEED_DUPLICATE_ID' // a second copy of a record key in one import; one copy is kept (feeds/import.ts)

export interface RecordError {
  code: RecordErrorCode
  /** File (and zip entry / line) the record came from. */
  file: string
  /** The record id, when it could be read. */
  id?: string
  message: string
}

/**
 * What changed in the store, computed by record key against what was stored before (by
 * `modified` and a content fingerprint, so feeds without `modified` still produce exact deltas).
 */
export interface FeedDelta {
  /** Record keys added or changed (see AdvisoryRecord.key; equals the OSV id for OSV records). */
  changed: string[]
  /** Record keys removed (OSV `withdrawn`). */
  withdrawn: string[]
  /** Display ids (the Finding.id) of changed and withdrawn records, deduplicated. */
  ids: string[]
  /**
   * `ecosystem\0name` store keys whose advisories changed: the union of the old and new records'
   * affected packages. OS keys are source names (Debian) / origins (Alpine), as `affectedKeys` gives.
   */
  packageKeys: string[]
}

export interface ImportReport {
  files: number
  /** Per format: how many records each file contributed. */
  sources: Record<string, number>
  added: number
  changed: number
  unchanged: number
  withdrawn: number
  skipped: number
  /** Copies of a record key beyond the first in this import (each is also an ERR_FEED_DUPLICATE_ID error). */
  duplicates?: number
  errors: RecordError[]
  /** EPSS / KEV rows applied (exploit data is not advisory records). */
  exploit: { epss: number; kev: number; changedCves: string[] }
  delta: FeedDelta
  elapsedMs: number
}

export interface ImportOptions {
  /** Records per LMDB transaction; each batch is atomic. */
  batchSize?: number
  /** Records larger than this (bytes of JSON) are refused with ERR_FEED_RECORD_TOO_LARGE. */
  maxRecordBytes?: number
  /** Zip entries / files larger than this are refused (decompression bombs). */
  maxFileBytes?: number
  /** Called after each batch, for progress display. */
  onProgress?: (p: { file: string; records: number }) => void
  /** Sees every record read, in batches as they are written (feed sync keeps which keys a snapshot listed). */
  onRecords?: (records: readonly AdvisoryRecord[]) => void
}

export interface ExploitUpdate {
  /** CVE → EPSS probability (0..1) and percentile. */
  epss?: Map<string, { epss: number; percentile: number }>
  /** The full KEV catalogue: CVEs not in it lose KEV membership. */
  kev?: Set<string>
  /** Dates of the data (EPSS score_date / model_version, KEV dateReleased) for `db status`. */
  epssDate?: string
  kevDate?: string
}

/** What the store says about one CVE's exploitation. */
export interface ExploitInfo {
  epss?: number
  percentile?: number
  kev?: boolean
}

/** Signatures, for readers of this file (the implementations are re-exported above). */
export interface MatchApi {
  importFeeds(store: Store, paths: string[], opts?: ImportOptions): Promise<ImportReport>
  /** Pure function of (store contents, package): the findings for one package. */
  matchPackage(store: Store, pkg: Package, os?: OsInfo): Finding[]
  /** matchPackage over every package of the inventory (with its `os`), concatenated in package order. */
  matchInventory(store: Store, inventory: Pick<Inventory, 'packages' | 'os'>): Finding[]
  /** Store keys (`ecosystem\0name`) under which advisories for this package live. */
  affectedKeys(pkg: Package, os?: OsInfo): string[]
  /** Writes EPSS/KEV data; returns the CVEs whose epss or kev value changed. */
  applyExploitData(store: Store, update: ExploitUpdate): { changedCves: string[] }
}
