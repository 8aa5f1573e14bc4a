import type { CvssScore, FixState, Severity } from './types.js'

/**
 * The normalised advisory model every feed converts into (OSV-shaped, one model for all feeds).
 * A record's `key` is its storage identity: the OSV id for OSV records; for distro feeds, which
 * publish per (release, package, CVE), `<ecosystem>/<package>/<CVE>` so that importing one
 * release's file never clobbers another release's entries for the same CVE.
 */
export interface AdvisoryRecord {
  key: string
  /** What a finding shows: GO-…, PYSEC-…, GHSA-…, or the CVE for distro feeds. */
  id: string
  aliases: string[]
  /** RFC 3339; distro feeds have none and use the content fingerprint for change detection. */
  modified?: string
  published?: string
  withdrawn?: string
  summary?: string
  details?: string
  references?: string[]
  /** CVSS vectors as published (scores are computed at import). */
  cvss: CvssScore[]
  /** The feed's own rating (Debian urgency, GHSA/npm severity), when it has one. */
  vendorSeverity?: Severity
  affected: AffectedEntry[]
  /** The feed the record came from: osv, alpine-secdb, debian-tracker, nodejs-wg, … */
  source: string
}

export type RangeType = 'ECOSYSTEM' | 'SEMVER'

export interface RangeEvent {
  introduced?: string
  fixed?: string
  last_affected?: string
  limit?: string
}

export interface AffectedRange {
  type: RangeType
  events: RangeEvent[]
}

export interface AffectedEntry {
  ecosystem: string
  name: string
  ranges: AffectedRange[]
  /** Explicit affected versions (OSV `versions`). */
  versions: string[]
  /** Distro feeds say so explicitly: no fix yet (`affected`) or the vendor will not fix. */
  state?: Exclude<FixState, 'fixed'>
  /** Per-package vendor severity (Debian urgency is per release and package). */
  vendorSeverity?: Severity
}

/** One half-open or closed interval of affected versions, compiled from sorted events. */
export interface Interval {
  /** Absent = from the beginning (`introduced: 0`). */
  introduced?: string
  /** Exclusive upper bound. */
  fixed?: string
  /** Inclusive upper bound. */
  lastAffected?: string
}

/**
 * What the `advisories` database holds under `ecosystem\0name`: everything a match needs, so
 * matching a package is one LMDB read plus exploit-data reads, with no record decode.
 */
export interface CompiledAdvisory {
  key: string
  id: string
  aliases: string[]
  modified?: string
  fingerprint: string
  ecosystem: string
  name: string
  /** One list per range; a version is affected when it lies in any interval of any range (below its limits). */
  ranges: { type: RangeType; intervals: Interval[]; limits: string[] }[]
  versions: string[]
  fixed: string[]
  state?: Exclude<FixState, 'fixed'>
  vendorSeverity?: Severity
  cvss: CvssScore[]
  title?: string
  source: string
}
