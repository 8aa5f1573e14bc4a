import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream'
import { queueReassessment, resumePending, type FindingsChanged } from '../assess/index.js'
import { toErrorRecord, VigilError } from '../errors.js'
import { applyExploitData, importRecords, type AdvisoryRecord } from '../match/index.js'
import { osvToItems } from '../feeds/osv.js'
import { asStoreError, storeWrite, type Store } from '../store/env.js'
import { retryDelayMs, type DaemonConfig } from './config.js'
import type { FeedLedger } from './ledger.js'
import type { StoreGate } from './store-gate.js'
import type { Logger } from './logger.js'
import { decodeBytes, encodingOf, validate, type Encoding, type FeedDeltaMessage } from './messages.js'
import { feedConsumerName, STREAMS } from './subjects.js'
import { settle } from './work.js'

export interface FeedApplied {
  records: number
  withdrawn: number
  skipped: number
  events: FindingsChanged[]
}

/**
 * A feed delta → advisory store (the feed helper's import path: OSV JSON → osvToItems →
 * importRecords; EPSS/KEV → applyExploitData) → re-assessment of only the touched images.
 */
export function applyFeedDelta(store: Store, delta: FeedDeltaMessage, origin: string): FeedApplied {
  const records: AdvisoryRecord[] = []
  let skipped = 0
  for (const json of delta.records ?? []) {
    for (const item of osvToItems(json, origin)) {
      if (item.kind === 'record') records.push(item.record)
      else if (item.kind === 'error' && item.error.code !== 'ERR_FEED_RANGE_UNSUPPORTED') skipped++
    }
  }
  const withdrawnAt = new Date().toISOString()
  for (const id of delta.withdrawn ?? []) records.push({ key: id, id, aliases: [], cvss: [], affected: [], source: 'osv', withdrawn: withdrawnAt })
  // The import and the re-assessment work it calls for commit together: a redelivered delta
  // finds its records unchanged and names no keys, so work lost in between would stay lost.
  store.root.transactionSync(() => {
    const imported = records.length > 0 ? importRecords(store, records) : { packageKeys: [] as string[] }
    let changedCves: string[] = []
    if (delta.epss || delta.kev) {
      const epss = delta.epss ? new Map(Object.entries(delta.epss)) : undefined
      changedCves = applyExploitData(store, { ...(epss ? { epss } : {}), ...(delta.kev ? { kev: new Set(delta.kev) } : {}) }).changedCves
    }
    queueReassessment(store, { delta: { packageKeys: imported.packageKeys, ids: records.map((r) => r.id) }, exploit: { changedCves } })
  })
  const events: FindingsChanged[] = []
  resumePending(store, { onChange: (e) => events.push(e) })
  return { records: records.length - (delta.withdrawn?.length ?? 0), withdrawn: delta.withdrawn?.length ?? 0, skipped, events }
}

export interface FeedFollowerOptions {
  js: JetStreamClient
  jsm: JetStreamManager
  store: Store
  log: Logger
  config: Pick<DaemonConfig, 'replicaId' | 'maxMessageBytes' | 'maxDeliveries' | 'retryBaseMs' | 'retryMaxMs'>
  ledger: FeedLedger
  gate: StoreGate
  /** After a delta is applied: its stream sequence and encoding too, for the announcer (announcer.ts). */
  onApplied: (applied: FeedApplied, delta: { seq: number; encoding: Encoding }) => void
  deadLetter: (m: JsMsg, error: VigilError) => Promise<void>
}

export interface FeedFollower {
  caughtUp: Promise<void>
  stop(): Promise<void>
}

/**
 * This replica's durable consumer on VIGIL_FEED: every delta, in order, one at a time. Every delta
 * ends: applied and acked; or, when it does not decode or fit the schema, dead-lettered at once;
 * or, when applying it fails `maxDeliveries` times, dead-lettered then. Only a store fault (a full
 * disk) is waited out without a bound: the delta is sound and skipping it would leave this
 * replica's index wrong for good.
 */
export async function followFeed(opts: FeedFollowerOptions): Promise<FeedFollower> {
  const { js, jsm, store, log, config, ledger } = opts
  const name = feedConsumerName(config.replicaId)
  const pendingAtStart = (await jsm.consumers.info(STREAMS.feed, name)).num_pending
  let resolveCaughtUp!: () => void
  const caughtUp = new Promise<void>((r) => (resolveCaughtUp = r))
  if (pendingAtStart === 0) resolveCaughtUp()
  const consumer = await js.consumers.get(STREAMS.feed, name)
  const messages = await consumer.consume({ max_messages: 1 })

  /** One copy in VIGIL_DLQ per delta, whichever replica gets there first; then the delta ends here. */
  const poison = async (m: JsMsg, e: VigilError): Promise<void> => {
    if (!(await ledger.deadLettered(m.seq))) {
      await opts.deadLetter(m, e)
      await ledger.markDeadLettered(m.seq, e.code)
    }
    log.error({ seq: m.seq, code: e.code, error: e.message, deliveries: m.info.deliveryCount }, 'feed delta refused; sent to the dead-letter subject')
    settle(m)
  }

  const handle = async (m: JsMsg): Promise<void> => {
    let encoding: Encoding = 'msgpack'
    let delta: FeedDeltaMessage
    try {
      encoding = encodingOf(m.headers)
      delta = validate('feed', decodeBytes(m.data, encoding, config.maxMessageBytes))
    } catch (err) {
      await poison(m, VigilError.is(err) ? err : new VigilError('ERR_MESSAGE_INVALID', String(err)))
      return
    }
    let applied: FeedApplied
    try {
      opts.gate.check()
      applied = applyFeedDelta(store, delta, `nats:${STREAMS.feed}#${m.seq}`)
    } catch (err) {
      const e = toErrorRecord(asStoreError(err) ?? err)
      opts.gate.noteFailure(e)
      const attempts = m.info.deliveryCount
      if (e.code !== 'ERR_STORE' && attempts >= config.maxDeliveries) {
        await poison(m, new VigilError(e.code, `applying the delta failed ${attempts} times: ${e.message}`, { retryable: false }))
        return
      }
      const delay = retryDelayMs(config, attempts)
      log.warn({ seq: m.seq, attempts, code: e.code, error: e.message, retryInMs: delay }, 'feed delta not applied; will be redelivered')
      m.nak(delay)
      return
    }
    // The follower never publishes events: one replica announces them (announcer.ts).
    log.info({ seq: m.seq, records: applied.records, withdrawn: applied.withdrawn, skipped: applied.skipped, imagesChanged: applied.events.length }, 'feed delta applied')
    opts.onApplied(applied, { seq: m.seq, encoding })
    // Ack only what is on disk: `flushed` also covers lmdb-js's batched async writes (docs/storage.md).
    await storeWrite(store.root.flushed)
    await m.ackAck().catch(() => m.ack())
  }

  const loop = (async () => {
    for await (const m of messages) {
      try {
        await handle(m)
      } catch (err) {
        // Broker trouble while answering: the delta comes back later (applying it again is idempotent).
        log.warn({ seq: m.seq, error: toErrorRecord(err) }, 'feed delta not answered; will be redelivered')
        m.nak(retryDelayMs(config, m.info.deliveryCount))
      }
      if (m.info.pending === 0) resolveCaughtUp()
    }
  })()

  return {
    caughtUp,
    stop: async () => {
      await messages.close().catch(() => undefined)
      await loop.catch(() => undefined)
      resolveCaughtUp()
    },
  }
}
