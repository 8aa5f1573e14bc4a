import { randomUUID } from 'node:crypto'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyReply } from 'fastify'
import { encode, type ScanJob } from '../../daemon/messages.js'
import { STREAMS, SUBJECTS } from '../../daemon/subjects.js'
import { bindingForRegistry, encryptSecret } from '../../secrets.js'
import type { Store } from '../../store/env.js'
import { metadata } from './metadata.js'
import { MIME, negotiateReport, parseSbomMediaType } from './mime.js'
import { OutboxFull, ScanOutbox, type OutboxEntry } from './outbox.js'
import { parseScanRequest, ScanRequestError } from './request.js'
import { followResults, isScanId, ScanBook, type ScanState } from './scans.js'
import { RemoteSource, type ReportSource } from './source.js'

/**
 * Harbor's Pluggable Scanner API v1.2 (reference/harbor-api.md) as a Fastify plugin:
 *   GET  /api/v1/metadata            capabilities, database age
 *   POST /api/v1/scan                validate, then answer from the index or enqueue a job → 202 {id}
 *   GET  /api/v1/scan/{id}/report    302 + Refresh-After while queued, 200 report, 500 failed, 404 unknown
 * With `store` (inside `vigil serve`) reports are read from this process's index and the plugin
 * also answers standalone adapters' queries; without it (`vigil harbor`) a daemon is asked over
 * NATS. Scan requests that arrive while the broker is unreachable wait in a local outbox
 * (outbox.ts) and are sent once it is back. Every error body is the spec's `{"error":{"message"}}`.
 */
export interface HarborServices {
  nc: NatsConnection
  /** The key every daemon replica shares: registry credentials go into jobs encrypted with it. */
  secretKey: Buffer
  log: FastifyBaseLogger
  store?: Store
  /** Seconds Harbor waits between polls of a queued scan (1..127; Harbor's parser caps at 127). */
  refreshAfterSeconds?: number
  /** Without `store`: the directory of the outbox's own LMDB environment. Neither: no outbox. */
  outboxDir?: string
}

// A done scan whose digest this replica has not indexed yet (VIGIL_INVENTORY replication lag)
// is "still running" for this long, then an error.
const INDEX_LAG_MS = 60_000
// Harbor gives each call 5 s in all, body included (reference/harbor-api.md §1): a broker that
// does not answer within this is taken as down, leaving time to say so.
const BROKER_BUDGET_MS = 2_000

// How often a non-empty outbox is tried again while the connection stays up (a send may time out).
const OUTBOX_RETRY_MS = 5_000

class BrokerUnavailable extends Error {}

/**
 * An outage worth waiting out in the outbox. "No responders" with the connection up means no
 * stream takes the subject (no daemon ever ran on this NATS): waiting would only hide that.
 */
const isOutage = (err: unknown): err is BrokerUnavailable => err instanceof BrokerUnavailable && !/no responders/i.test(err.message)

/** `work`, or BrokerUnavailable once the broker is known down or `BROKER_BUDGET_MS` passed. */
async function fromBroker<T>(brokerUp: () => boolean, work: Promise<T>): Promise<T> {
  work.catch(() => undefined)
  if (!brokerUp()) throw new BrokerUnavailable('the NATS broker is unreachable')
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BrokerUnavailable(`the NATS broker did not answer within ${BROKER_BUDGET_MS} ms`)), BROKER_BUDGET_MS)
  })
  try {
    return await Promise.race([work, late])
  } catch (err) {
    if (err instanceof BrokerUnavailable) throw err
    // Requests made while the client reconnects fail with these; anything else is a real error.
    if (/timeout|no responders|disconnect|closed|connection/i.test((err as Error).message)) throw new BrokerUnavailable((err as Error).message)
    throw err
  } finally {
    clearTimeout(timer)
  }
}

export const harborPlugin: FastifyPluginAsync<HarborServices> = async (app, services) => {
  const { nc, secretKey } = services
  const log = services.log
  const refreshAfter = String(Math.min(127, Math.max(1, Math.round(services.refreshAfterSeconds ?? 3))))
  const js = jetstream(nc)
  const book = await ScanBook.open(nc)
  // Told by the client's status events, so that a call made during an outage answers at once.
  let connected = !nc.isClosed()
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false
      else if (s.type === 'reconnect') connected = true
    }
  })().catch(() => undefined)
  const broker = <T>(work: Promise<T>) => fromBroker(() => connected && !nc.isClosed(), work)
  const follower = followResults(nc, book, log)
  let source: ReportSource = new RemoteSource(nc)
  let responder: Subscription | undefined
  if (services.store) {
    // Loaded only with a store: the standalone adapter never loads analyzers or LMDB code.
    const local = await import('./local.js')
    source = new local.LocalSource(services.store)
    responder = local.serveHarborQueries(nc, services.store, log)
  }
  const outbox = services.store ? ScanOutbox.inStore(services.store) : services.outboxDir ? ScanOutbox.inDir(services.outboxDir) : undefined
  let closing = false
  let draining: Promise<void> | undefined
  // Sends what waits, in the order it came, exactly as POST /scan would have: the KV state first,
  // then the job under its Nats-Msg-Id (a second send after a crash is dropped as a duplicate).
  const drainOutbox = async (box: ScanOutbox) => {
    for (const entry of box.entries()) {
      if (closing || !connected) return
      const { id, digest } = entry.state
      if (ScanOutbox.expired(entry)) {
        await box.remove(id)
        log.warn({ scan: id, digest, createdAt: entry.state.createdAt }, 'harbor outbox: scan request expired before the broker came back; dropped')
        continue
      }
      try {
        await broker(book.createIfAbsent(entry.state))
        if (entry.job) await broker(js.publish(SUBJECTS.scan, encode(entry.job, 'msgpack'), { msgID: `harbor:${id}` }))
      } catch (err) {
        log.warn({ scan: id, waiting: box.size, err: (err as Error).message }, 'harbor outbox: the broker did not take the scan request yet; trying again later')
        return
      }
      await box.remove(id)
      log.info({ scan: id, digest, waitedMs: Date.now() - Date.parse(entry.state.createdAt), waiting: box.size }, 'harbor outbox: scan request sent')
    }
  }
  const drain = () => {
    if (!outbox || draining || closing || outbox.size === 0) return
    draining = drainOutbox(outbox)
      .catch((err: unknown) => log.error({ err: (err as Error).message }, 'harbor outbox: drain failed'))
      .finally(() => (draining = undefined))
  }
  if (outbox && outbox.size > 0) log.info({ waiting: outbox.size }, 'harbor outbox: scan requests from before the restart are waiting; sending')
  drain()
  const retry = outbox ? setInterval(drain, OUTBOX_RETRY_MS).unref() : undefined
  void (async () => {
    // After the loop above has marked the connection up (macrotask: its handler runs in a microtask).
    for await (const s of nc.status()) if (s.type === 'reconnect') setTimeout(drain, 0)
  })().catch(() => undefined)
  app.addHook('onClose', async () => {
    closing = true
    clearInterval(retry)
    responder?.unsubscribe()
    await follower.stop()
    await draining
    await outbox?.close()
  })

  const fail = (reply: FastifyReply, status: number, message: string) =>
    reply.code(status).type(MIME.ERROR).send(Buffer.from(JSON.stringify({ error: { message } })))

  // Harbor posts `application/vnd.scanner.adapter.scan.request+json; version=1.0`, others plain
  // JSON or nothing at all: every body is read as JSON, whatever its Content-Type says.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
  app.setErrorHandler((err, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode
    const message = err instanceof Error ? err.message : String(err)
    if (status && status >= 400 && status < 500) return fail(reply, status, message)
    log.error({ err: message }, 'harbor adapter request failed')
    return fail(reply, 500, message)
  })

  // The database changes by `vigil db import` (the store's feed metadata) and by deltas on
  // VIGIL_FEED (the stream's last message time); the newer of the two is the database's age.
  const databaseUpdatedAt = async (): Promise<string | undefined> => {
    const [imported, streamed] = await Promise.all([
      broker(source.databaseUpdatedAt()).catch(() => undefined),
      broker(jetstreamManager(nc, { timeout: 1_000 })
        .then((jsm) => jsm.streams.info(STREAMS.feed))
        .then((info) => (info.state.messages > 0 ? new Date(info.state.last_ts).toISOString() : undefined)))
        .catch(() => undefined),
    ])
    return [imported, streamed].filter((t): t is string => !!t).sort().pop()
  }

  app.get('/api/v1/metadata', async (req, reply) => {
    const body = metadata(await databaseUpdatedAt())
    // We carry v1.2 fields; a client asking for the v1.1 metadata MIME gets that label.
    const type = /version\s*=\s*1\.1/.test(req.headers.accept ?? '') ? MIME.METADATA_V11 : MIME.METADATA_V10
    return reply.type(type).send(Buffer.from(JSON.stringify(body)))
  })

  app.post('/api/v1/scan', async (req, reply) => {
    let parsed
    try {
      const raw = req.body instanceof Buffer ? req.body.toString('utf8') : ''
      if (raw.trim() === '') throw new ScanRequestError(400, 'the request body is empty')
      let json: unknown
      try {
        json = JSON.parse(raw)
      } catch {
        throw new ScanRequestError(400, 'the request body is not valid JSON')
      }
      parsed = parseScanRequest(json)
    } catch (err) {
      if (err instanceof ScanRequestError) return fail(reply, err.status, err.message)
      throw err
    }
    const id = randomUUID()
    const now = new Date().toISOString()
    const indexed = await broker(source.indexed(parsed.artifact.digest)).catch(() => false)
    const state: ScanState = {
      v: 1, id, status: indexed ? 'done' : 'queued', digest: parsed.artifact.digest, artifact: parsed.artifact,
      capabilities: parsed.capabilities, source: indexed ? 'index' : 'scan', createdAt: now, updatedAt: now,
    }
    const job: ScanJob | undefined = indexed ? undefined : {
      v: 1,
      id,
      registry: { url: parsed.registryUrl, ...(parsed.authorization ? { authorization: encryptSecret(parsed.authorization, secretKey, bindingForRegistry(parsed.registryUrl, parsed.artifact.repository)) } : {}) },
      // Pulled by digest; the tag (validated with the daemon's grammar) only labels the result.
      artifact: parsed.artifact,
    }
    // Harbor takes anything but 202 as a failed scan and the spec has no "try later" for a scan
    // request, so during an outage the request waits in the outbox (durable before the 202) and
    // goes out when the broker is back; a 500 says why only when there is no room to wait.
    const keepForLater = async (err: BrokerUnavailable) => {
      const refuse = (why: string) => {
        log.error({ digest: parsed.artifact.digest, err: err.message, why }, 'harbor scan request refused: the broker is unreachable')
        return fail(reply, 500, `ERR_BROKER: the scan could not be queued, the NATS broker is unreachable (${err.message})${why}; scan again once it is back`)
      }
      if (!outbox) return refuse('')
      const entry: OutboxEntry = { v: 1, state, ...(job ? { job } : {}) }
      try {
        await outbox.add(entry)
      } catch (e) {
        if (e instanceof OutboxFull) return refuse(` and ${e.message}`)
        return refuse(` and it could not be kept locally: ${(e as Error).message}`)
      }
      log.warn({ scan: id, digest: parsed.artifact.digest, waiting: outbox.size, err: err.message }, 'harbor scan request accepted into the outbox: the broker is unreachable')
      return reply.code(202).type(MIME.SCAN_RESPONSE).send(Buffer.from(JSON.stringify({ id })))
    }
    // The state is written before the job goes out, so its result always finds it.
    try {
      await broker(book.create(state))
    } catch (err) {
      if (isOutage(err)) return keepForLater(err)
      if (err instanceof BrokerUnavailable) return fail(reply, 500, `ERR_BROKER: the scan could not be queued: ${err.message}`)
      throw err
    }
    if (job) {
      try {
        await broker(js.publish(SUBJECTS.scan, encode(job, 'msgpack'), { msgID: `harbor:${id}` }))
      } catch (err) {
        if (isOutage(err)) return keepForLater(err)
        await broker(book.settle(id, { status: 'failed', error: `ERR_BROKER: the scan job could not be queued: ${(err as Error).message}` })).catch(() => undefined)
        return fail(reply, 500, `ERR_BROKER: the scan job could not be queued (is a vigil daemon running on this NATS?): ${(err as Error).message}`)
      }
    }
    log.info({ scan: id, digest: parsed.artifact.digest, repository: parsed.artifact.repository, fromIndex: indexed }, 'harbor scan request accepted')
    return reply.code(202).type(MIME.SCAN_RESPONSE).send(Buffer.from(JSON.stringify({ id })))
  })

  app.get<{ Params: { id: string }; Querystring: { sbom_media_type?: string } }>('/api/v1/scan/:id/report', async (req, reply) => {
    const wanted = negotiateReport(req.headers.accept)
    if (!wanted.ok) return fail(reply, wanted.status, wanted.message)
    const sbomMediaType = parseSbomMediaType(req.query.sbom_media_type)
    if (wanted.kind === 'sbom' && !sbomMediaType) {
      const given = req.query.sbom_media_type
      return fail(reply, 400, given === undefined ? `the SBOM report needs ?sbom_media_type=${MIME.SPDX_JSON} or ${MIME.CYCLONEDX_JSON}` : `unsupported sbom_media_type "${String(given).slice(0, 80)}"`)
    }
    // Accepted while the broker was down and not sent yet: pending, whatever the KV says.
    if (outbox && isScanId(req.params.id) && outbox.has(req.params.id)) return reply.code(302).header('Refresh-After', refreshAfter).send()
    let state: ScanState | undefined
    try {
      state = await broker(book.get(req.params.id))
    } catch (err) {
      // The scan's state is out of reach for now, not gone: Harbor keeps polling a 302 (spec: "the
      // request should be retried"), where any other status would fail the scan for good.
      if (!(err instanceof BrokerUnavailable)) throw err
      log.warn({ scan: req.params.id.slice(0, 80), err: err.message }, 'harbor report poll: the broker is unreachable; answered 302')
      return reply.code(302).header('Refresh-After', refreshAfter).send()
    }
    if (!state) return fail(reply, 404, `cannot find scan request ${req.params.id.slice(0, 80)}`)
    if (state.status === 'queued' || state.status === 'running') return reply.code(302).header('Refresh-After', refreshAfter).send()
    if (state.status === 'failed') return fail(reply, 500, state.error ?? 'the scan failed')
    let rendered
    try {
      // A standalone adapter asks a daemon over NATS, within RemoteSource's own time limit.
      if (!services.store && !connected) throw new BrokerUnavailable('the NATS broker is unreachable')
      rendered = await source.render({ digest: state.digest, artifact: state.artifact, kind: wanted.kind, ...(sbomMediaType ? { sbomMediaType } : {}) })
    } catch (err) {
      // No daemon answered (restarting, or none up yet): the report exists, so Harbor should come back.
      if (err instanceof BrokerUnavailable || /no responders|timeout/i.test((err as Error).message)) return reply.code(302).header('Refresh-After', refreshAfter).send()
      throw err
    }
    if (!rendered.ok) {
      if (Date.now() - Date.parse(state.updatedAt) < INDEX_LAG_MS) return reply.code(302).header('Refresh-After', refreshAfter).send()
      return fail(reply, 500, `${state.digest} is no longer in the index; scan it again`)
    }
    return reply.code(200).type(wanted.mime).send(rendered.body)
  })
}
