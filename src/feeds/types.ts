import type { RecordError } from '../match/index.js'
import type { AdvisoryRecord } from '../match/model.js'

/** What a feed reader yields: advisory records, per-record errors, or exploit data. */
export type FeedItem =
  | { kind: 'record'; record: AdvisoryRecord }
  | { kind: 'error'; error: RecordError }
  | { kind: 'epss'; rows: Map<string, { epss: number; percentile: number }>; date?: string }
  | { kind: 'kev'; cves: Set<string>; date?: string }

export type FeedFormat = 'osv-json' | 'osv-ndjson' | 'osv-zip' | 'alpine-secdb' | 'debian-tracker' | 'nodejs-wg' | 'epss-csv' | 'kev-json' | 'wolfi-secdb' | 'amazon-alas' | 'azure-oval' | 'oval-parts' | 'photon-cve' | 'suse-cvrf' | 'oracle-oval'

export interface ReadLimits {
  maxRecordBytes: number
  maxFileBytes: number
}

export const DEFAULT_LIMITS: ReadLimits = { maxRecordBytes: 16 * 1024 * 1024, maxFileBytes: 1024 * 1024 * 1024 }

export function recordError(code: RecordError['code'], file: string, message: string, id?: string): FeedItem {
  return { kind: 'error', error: id === undefined ? { code, file, message } : { code, file, message, id } }
}
