import type { JetStreamClient } from '@nats-io/jetstream'
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node'
import type { ChangedFinding, FindingsChanged } from '../assess/index.js'
import type { ErrorRecord } from '../errors.js'
import { SEVERITIES, type Finding, type Severity } from '../match/types.js'
import type { Inventory, InventoryWarning } from '../types.js'
import { encode, JSON_CONTENT_TYPE, SCHEMA_VERSION, type Encoding } from './messages.js'
import { SUBJECTS } from './subjects.js'

/** What `vigil.results.scan` carries (docs/messages.md). */
export interface ScanResult {
  v: 1
  id: string
  status: 'done' | 'failed'
  digest?: string
  reference?: string
  platform?: string
  analyzerSet?: string
  /** True when the image was already indexed and no layer was pulled. */
  fromStore?: boolean
  packages?: number
  summary?: Record<Severity, number>
  findings?: Finding[]
  /** Findings left out to keep the message under the broker's max payload (read them over HTTP). */
  findingsOmitted?: number
  /** False, with `warnings` (what the scan skipped), when the inventory may be incomplete. */
  complete?: false
  warnings?: InventoryWarning[]
  error?: { code: string; message: string }
  deliveries?: number
  /** The replica that answered. */
  replica?: string
}

export interface ReassessResult {
  v: 1
  id: string
  status: 'done' | 'failed'
  images?: number
  changed?: number
  missing?: string[]
  error?: { code: string; message: string }
}

export interface FindingsChangedMessage {
  v: 1
  digest: string
  added: Finding[]
  removed: Finding[]
  changed: ChangedFinding[]
  /** Advisory ids behind the change. */
  causes: string[]
  /** What caused it: a feed delta (its stream sequence) or a re-assess job. */
  origin: { feedSeq?: number; jobId?: string }
}

export function summarize(findings: readonly Finding[]): Record<Severity, number> {
  const out = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>
  for (const f of findings) out[f.severity]++
  return out
}

export function doneResult(id: string, reference: string, inventory: Inventory, findings: Finding[], fromStore: boolean, deliveries: number): ScanResult {
  return {
    v: SCHEMA_VERSION, id, status: 'done', digest: inventory.image.digest, reference, platform: inventory.image.platform,
    analyzerSet: inventory.analyzerSet, fromStore, packages: inventory.packages.length, summary: summarize(findings), findings, deliveries,
    ...(inventory.warnings?.length ? { complete: false as const, warnings: inventory.warnings } : {}),
  }
}

export function failedResult(id: string, error: ErrorRecord, deliveries: number, digest?: string): ScanResult {
  return { v: SCHEMA_VERSION, id, status: 'failed', ...(digest ? { digest } : {}), error: { code: error.code, message: error.message }, deliveries }
}

export function digestHex(digest: string): string {
  return digest.replace(/^sha256:/, '')
}

function resultHeaders(encoding: Encoding, jobId: string | undefined, digest: string | undefined): MsgHdrs {
  const h = natsHeaders()
  if (encoding === 'json') h.set('Content-Type', JSON_CONTENT_TYPE)
  if (jobId !== undefined) h.set('Vigil-Job-Id', jobId)
  if (digest) h.set('Vigil-Digest', digest)
  return h
}

/**
 * A scan result, shrunk when it would not fit the broker's max payload: first long texts go
 * (descriptions, references), then the findings themselves (the summary stays, and the count of
 * what was left out). The msgID makes VIGIL_RESULTS keep one copy per job.
 */
export async function publishScanResult(js: JetStreamClient, maxPayload: number, result: ScanResult, encoding: Encoding): Promise<void> {
  let body = encode(result, encoding)
  if (body.length > maxPayload && result.findings) {
    const lean = result.findings.map(({ description: _d, references: _r, ...rest }) => rest)
    body = encode({ ...result, findings: lean }, encoding)
    if (body.length > maxPayload) {
      const { findings, ...rest } = result
      body = encode({ ...rest, findingsOmitted: findings.length }, encoding)
    }
  }
  await js.publish(SUBJECTS.scanResult, body, { headers: resultHeaders(encoding, result.id, result.digest), msgID: `scan-result:${result.id}` })
}

export async function publishReassessResult(js: JetStreamClient, result: ReassessResult, encoding: Encoding): Promise<void> {
  await js.publish(SUBJECTS.reassessResult, encode(result, encoding), { headers: resultHeaders(encoding, result.id, undefined), msgID: `reassess-result:${result.id}` })
}

/**
 * One event per image. Every replica applies every delta, so each announces the same change;
 * the msgID (delta sequence or job + digest) lets VIGIL_RESULTS keep exactly one.
 */
export async function publishFindingsChanged(js: JetStreamClient, event: FindingsChanged, origin: FindingsChangedMessage['origin'], encoding: Encoding, part?: number): Promise<void> {
  const hex = digestHex(event.digest)
  const message: FindingsChangedMessage = { v: SCHEMA_VERSION, digest: event.digest, added: event.added, removed: event.removed, changed: event.changed, causes: event.causes, origin }
  // A re-assess job announces in batches, and one image can change in several: `part` keeps
  // their ids apart.
  const dedupe = origin.feedSeq !== undefined ? `feed-${origin.feedSeq}` : `job-${origin.jobId}${part !== undefined ? `-${part}` : ''}`
  await js.publish(SUBJECTS.findings(hex), encode(message, encoding), { headers: resultHeaders(encoding, origin.jobId, event.digest), msgID: `findings:${dedupe}:${hex}` })
}
