import { gunzipSync } from 'node:zlib'
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node'
import type { RenderRequest } from './render.js'

/**
 * Where the adapter reads the index. Inside `vigil serve` it is the daemon's own store
 * (local.ts); `vigil harbor` alone asks a daemon over NATS request-reply on HARBOR_QUERY_SUBJECT,
 * answered by whichever daemon replica is free (queue group HARBOR_QUERY_QUEUE, served by
 * local.ts's serveHarborQueries). Replies carry the rendered report gzip-compressed, so the
 * inventory never crosses the wire and a large SBOM still fits the broker's max payload.
 */
export const HARBOR_QUERY_SUBJECT = 'vigil.query.harbor'
export const HARBOR_QUERY_QUEUE = 'vigil-harbor-query'

export type Rendered = { ok: true; body: Buffer } | { ok: false; missing: true }

export interface ReportSource {
  /** True when the digest is indexed with the current analyzer set: a rescan needs no pull. */
  indexed(digest: string): Promise<boolean>
  /** The report as JSON bytes, from the current findings; `missing` when the digest is not indexed. */
  render(req: RenderRequest): Promise<Rendered>
  /** RFC 3339 time of the newest feed import, if any feed was imported. */
  databaseUpdatedAt(): Promise<string | undefined>
}

export type HarborQuery =
  | { op: 'indexed'; digest: string }
  | { op: 'render'; req: RenderRequest }
  | { op: 'database' }

/** Reply header: `ok`, `missing`, or `error` (then the body is the message). */
export const STATUS_HEADER = 'Vigil-Status'

export class RemoteSource implements ReportSource {
  constructor(private readonly nc: NatsConnection, private readonly timeoutMs = 3_000) {}

  private async ask(query: HarborQuery, timeout = this.timeoutMs): Promise<{ status: string; body: Buffer }> {
    const h = natsHeaders()
    h.set('Content-Type', 'application/json')
    const msg = await this.nc.request(HARBOR_QUERY_SUBJECT, JSON.stringify(query), { timeout, headers: h })
    const status = msg.headers?.get(STATUS_HEADER) ?? 'error'
    const body = msg.data.length ? gunzipSync(msg.data) : Buffer.alloc(0)
    if (status === 'error') throw new Error(`the daemon could not answer: ${body.toString('utf8').slice(0, 500)}`)
    return { status, body }
  }

  async indexed(digest: string): Promise<boolean> {
    // Asked inside POST /scan, which Harbor gives 5 s in all: a slow answer just means "scan it".
    try {
      const { body } = await this.ask({ op: 'indexed', digest }, 1_000)
      return (JSON.parse(body.toString('utf8')) as { indexed?: unknown }).indexed === true
    } catch {
      return false
    }
  }

  async render(req: RenderRequest): Promise<Rendered> {
    const { status, body } = await this.ask({ op: 'render', req })
    return status === 'missing' ? { ok: false, missing: true } : { ok: true, body }
  }

  async databaseUpdatedAt(): Promise<string | undefined> {
    try {
      const { body } = await this.ask({ op: 'database' }, 1_000)
      const at = (JSON.parse(body.toString('utf8')) as { updatedAt?: unknown }).updatedAt
      return typeof at === 'string' ? at : undefined
    } catch {
      return undefined
    }
  }
}
