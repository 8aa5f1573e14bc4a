import type { FeedFormat } from '../types.js'

/**
 * One upstream feed: where it lives, how often it changes, and the files (units) a sync fetches
 * from it. A unit is the grain of conditional requests, of the per-source report and of
 * withdrawal by omission: a record a snapshot unit stops listing is withdrawn.
 */
export interface FeedSource {
  /** Source name: the `--source` selector, the mirror folder (`BASE/<name>/…`), the report row prefix. */
  readonly name: string
  readonly title: string
  /** Official base URL; a unit's URL is `<base>/<unit.path>`. */
  readonly defaultBase: string
  /** How often the daemon syncs it by default. */
  readonly intervalMs: number
  /** `db status` warns when the last successful sync is older than this. */
  readonly staleAfterMs: number
  /** How an unchanged upstream is detected, for `--help` and the docs. */
  readonly changeDetection: string
  units(options: SourceOptions): SyncUnit[]
}

export interface SourceOptions {
  /** OSV ecosystem folders to sync (default: every ecosystem the inventory can produce). */
  osvEcosystems?: readonly string[]
  /** Alpine secdb branches (`v3.19`) to sync. */
  alpineBranches?: readonly string[]
}

interface UnitBase {
  /** `<source>/<part>`: state key, report row, `--source` selector. */
  readonly id: string
  readonly source: string
  /** Upstream path under the base URL (and under `BASE/<source>/` on a mirror). */
  readonly path: string
  /** The format the file must be (content sanity). */
  readonly format: FeedFormat
  /** Size cap for the download; well above any real file, so only a runaway body reaches it. */
  readonly maxBytes: number
}

/** A whole-feed file: imported as is; a record it no longer lists is withdrawn. */
export interface SnapshotUnit extends UnitBase {
  readonly kind: 'snapshot'
}

/** EPSS / KEV: exploit data, not advisory records (the import itself replaces the whole set). */
export interface ExploitUnit extends UnitBase {
  readonly kind: 'exploit'
}

/**
 * An OSV ecosystem folder: `path` is its all.zip (a snapshot), `listing` its modified_id.csv
 * (`<RFC 3339 modified>,<id>` per record, newest first), `recordPath(id)` one record's JSON.
 */
export interface OsvUnit extends UnitBase {
  readonly kind: 'osv'
  readonly listing: string
  recordPath(id: string): string
}

export type SyncUnit = SnapshotUnit | ExploitUnit | OsvUnit

export const MiB = 1024 * 1024
export const HOUR = 3_600_000
