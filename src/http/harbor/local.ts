import { gzipSync } from 'node:zlib'
import { headers as natsHeaders, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { ANALYZERS, analyzerSetVersion } from '../../analyzers/index.js'
import { imageFindings, readInventory } from '../../assess/index.js'
import type { FeedSourceMeta } from '../../store/advisories.js'
import type { Store } from '../../store/env.js'
import { readImage } from '../../store/images.js'
import { parseSbomMediaType } from './mime.js'
import { renderReport, type RenderRequest } from './render.js'
import { HARBOR_QUERY_QUEUE, HARBOR_QUERY_SUBJECT, STATUS_HEADER, type HarborQuery, type Rendered, type ReportSource } from './source.js'

/** The index in this process's store: what `vigil serve` reads, and what answers remote adapters. */
export class LocalSource implements ReportSource {
  private readonly analyzerSet = analyzerSetVersion(ANALYZERS)

  constructor(private readonly store: Store) {}

  async indexed(digest: string): Promise<boolean> {
    return readImage(this.store, digest)?.analyzerSet === this.analyzerSet
  }

  async render(req: RenderRequest): Promise<Rendered> {
    const inventory = readInventory(this.store, req.digest)
    const findings = imageFindings(this.store, req.digest)
    if (!inventory || !findings) return { ok: false, missing: true }
    return { ok: true, body: Buffer.from(JSON.stringify(renderReport(req, inventory, findings))) }
  }

  async databaseUpdatedAt(): Promise<string | undefined> {
    let newest: string | undefined
    // Feed sources keep their last import time under meta `feed:<source>` (store/advisories.ts).
    for (const { value } of this.store.meta.getRange({ start: 'feed:', end: 'feed;' })) {
      const at = (value as FeedSourceMeta | undefined)?.lastImport
      if (typeof at === 'string' && (!newest || at > newest)) newest = at
    }
    return newest
  }
}

/**
 * Answers HARBOR_QUERY_SUBJECT for adapters that run without a store (`vigil harbor`). Runs in
 * every daemon that registers the Harbor plugin; the queue group hands each query to one of them.
 */
export function serveHarborQueries(nc: NatsConnection, store: Store, log: Logger): Subscription {
  const source = new LocalSource(store)
  const reply = (msg: { respond(data: Uint8Array, opts: { headers: ReturnType<typeof natsHeaders> }): boolean }, status: string, body: Buffer | string) => {
    const h = natsHeaders()
    h.set(STATUS_HEADER, status)
    msg.respond(gzipSync(body), { headers: h })
  }
  return nc.subscribe(HARBOR_QUERY_SUBJECT, {
    queue: HARBOR_QUERY_QUEUE,
    callback: (err, msg) => {
      if (err) return
      void (async () => {
        try {
          const query = parseQuery(msg.data)
          if (query.op === 'indexed') return reply(msg, 'ok', JSON.stringify({ indexed: await source.indexed(query.digest) }))
          if (query.op === 'database') {
            const at = await source.databaseUpdatedAt()
            return reply(msg, 'ok', JSON.stringify(at ? { updatedAt: at } : {}))
          }
          const rendered = await source.render(query.req)
          return rendered.ok ? reply(msg, 'ok', rendered.body) : reply(msg, 'missing', '')
        } catch (e) {
          log.warn({ err: (e as Error).message }, 'harbor query failed')
          reply(msg, 'error', (e as Error).message)
        }
      })()
    },
  })
}

const DIGEST = /^sha256:[0-9a-f]{64}$/

function parseQuery(data: Uint8Array): HarborQuery {
  const q = JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>
  if (q.op === 'database') return { op: 'database' }
  if (q.op === 'indexed' && typeof q.digest === 'string' && DIGEST.test(q.digest)) return { op: 'indexed', digest: q.digest }
  const req = q.req as Partial<RenderRequest> | undefined
  if (q.op === 'render' && req && typeof req.digest === 'string' && DIGEST.test(req.digest) && (req.kind === 'vulnerability' || req.kind === 'sbom') && req.artifact && typeof req.artifact === 'object') {
    const sbomMediaType = parseSbomMediaType(req.sbomMediaType)
    return { op: 'render', req: { digest: req.digest, artifact: req.artifact, kind: req.kind, ...(sbomMediaType ? { sbomMediaType } : {}) } }
  }
  throw new Error('not a harbor query')
}
