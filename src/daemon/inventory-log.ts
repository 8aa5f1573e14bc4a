import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { promisify } from 'node:util'
import { gunzip, gzip } from 'node:zlib'
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import { headers as natsHeaders } from '@nats-io/transport-node'
import { Packr } from 'msgpackr'
import { indexImages } from '../assess/index.js'
import { VigilError } from '../errors.js'
import type { Store } from '../store/env.js'
import { readImage, readInventory } from '../store/images.js'
import type { Inventory } from '../types.js'
import type { Logger } from './logger.js'
import { digestHex } from './results.js'
import { STREAMS, SUBJECTS } from './subjects.js'

const gzipAsync = promisify(gzip)
const gunzipAsync = promisify(gunzip)
const packr = new Packr({ useRecords: false, mapsAsObjects: true })

/**
 * VIGIL_INVENTORY is the system of record: every scanned inventory is published to
 * `vigil.inventory.<hex>` (one message kept per digest), msgpack then gzip (inventories repeat
 * package names and paths, and the broker's max payload is 1 MiB by default). LMDB is an index
 * derived from it: each replica follows the stream and indexes what it does not have yet, which
 * is also how an empty replica rebuilds.
 */
export async function publishInventory(js: JetStreamClient, maxPayload: number, inventory: Inventory): Promise<void> {
  const body = await gzipAsync(packr.pack(inventory))
  if (body.length > maxPayload) {
    throw new VigilError('ERR_MESSAGE_TOO_LARGE', `the inventory of ${inventory.image.digest} is ${body.length} bytes compressed, over the broker's max payload (${maxPayload}); raise max_payload on the NATS server`, { retryable: false })
  }
  const h = natsHeaders()
  h.set('Content-Encoding', 'gzip')
  h.set('Vigil-Digest', inventory.image.digest)
  await js.publish(SUBJECTS.inventory(digestHex(inventory.image.digest)), body, { headers: h })
}

/** Whether VIGIL_INVENTORY holds a message for this digest (it keeps the newest per digest). */
export async function inventoryOnStream(js: JetStreamClient, digest: string): Promise<boolean> {
  const jsm = await js.jetstreamManager(false)
  return (await jsm.streams.getMessage(STREAMS.inventory, { last_by_subj: SUBJECTS.inventory(digestHex(digest)) })) !== null
}

/**
 * The system of record gets the image before the job is answered `done`: a pulled image is
 * published; an image answered from the store is checked (one request) and published when the
 * stream lacks it — an earlier delivery of the job indexed it and then failed to publish, or the
 * stream lost it. Returns whether it published.
 */
export async function recordInventory(js: JetStreamClient, maxPayload: number, outcome: { inventory: Inventory; fromStore: boolean }): Promise<boolean> {
  if (outcome.fromStore && (await inventoryOnStream(js, outcome.inventory.image.digest))) return false
  await publishInventory(js, maxPayload, outcome.inventory)
  return true
}

export interface ReconcileOutcome {
  indexed: number
  missing: number
  republished: number
  failed: number
}

/** Digests per LMDB read between yields to the event loop. */
const RECONCILE_CHUNK = 500

/**
 * One pass: every digest this replica has indexed whose subject VIGIL_INVENTORY lacks is
 * published again from the store. The stream's subject list comes in one (paged) stream-info
 * request; the index is walked in chunks with a yield between them, so a large index does not
 * hold up jobs or probes. Another replica republishing the same image at once is harmless: the
 * stream keeps the newest message per digest, and both carry the same inventory.
 */
export async function reconcileInventories(js: JetStreamClient, jsm: JetStreamManager, store: Store, maxPayload: number, log: Logger, signal?: AbortSignal): Promise<ReconcileOutcome> {
  const info = await jsm.streams.info(STREAMS.inventory, { subjects_filter: SUBJECTS.inventory('*') })
  const onStream = info.state.subjects ?? {}
  const outcome: ReconcileOutcome = { indexed: 0, missing: 0, republished: 0, failed: 0 }
  let after: string | undefined
  for (;;) {
    signal?.throwIfAborted()
    const digests = [...store.images.getKeys({ ...(after !== undefined ? { start: after } : {}), limit: RECONCILE_CHUNK + 1 })].map(String).filter((d) => d !== after)
    if (digests.length === 0) break
    after = digests[digests.length - 1]
    for (const digest of digests) {
      outcome.indexed++
      if (onStream[SUBJECTS.inventory(digestHex(digest))]) continue
      outcome.missing++
      const inventory = readInventory(store, digest)
      if (!inventory) continue
      try {
        await publishInventory(js, maxPayload, inventory)
        outcome.republished++
      } catch (err) {
        outcome.failed++
        log.warn({ digest, error: (err as Error).message }, 'could not republish an indexed image missing from VIGIL_INVENTORY')
      }
    }
    await yieldToLoop()
  }
  if (outcome.missing > 0) log.warn({ ...outcome }, `VIGIL_INVENTORY lacked ${outcome.missing} indexed image(s): republished ${outcome.republished}`)
  else log.debug({ ...outcome }, 'VIGIL_INVENTORY holds every indexed image')
  return outcome
}

/** Runs reconcileInventories every `everyMs` (after the first wait) until stopped. */
export function scheduleReconcile(run: (signal: AbortSignal) => Promise<unknown>, everyMs: number, log: Logger): { stop(): Promise<void> } {
  const controller = new AbortController()
  let current: Promise<unknown> = Promise.resolve()
  let timer: NodeJS.Timeout | undefined
  const tick = () => {
    current = run(controller.signal)
      .catch((err: unknown) => {
        if (!controller.signal.aborted) log.warn({ error: (err as Error).message }, 'inventory reconciliation failed; trying again next round')
      })
      .finally(() => {
        if (!controller.signal.aborted) timer = setTimeout(tick, everyMs)
      })
  }
  if (everyMs > 0) timer = setTimeout(tick, everyMs)
  return {
    stop: async () => {
      controller.abort()
      clearTimeout(timer)
      await current
    },
  }
}

export async function decodeInventory(m: Pick<JsMsg, 'data' | 'headers'>): Promise<Inventory> {
  const raw = m.headers?.get('Content-Encoding') === 'gzip' ? await gunzipAsync(m.data) : Buffer.from(m.data)
  return packr.unpack(raw) as Inventory
}

export interface InventoryFollower {
  /** Resolves once everything in the stream when it started is indexed. */
  caughtUp: Promise<{ indexed: number; seen: number }>
  stop(): Promise<void>
}

const BATCH = 100

/**
 * An ordered consumer from the first message: on every start the replica reads the whole stream,
 * indexing the inventories its LMDB lacks (or has from an older analyzer set), then stays on it
 * to pick up images other replicas scan. Matching uses this replica's own advisory data.
 */
export async function followInventories(js: JetStreamClient, jsm: JetStreamManager, store: Store, log: Logger, onIndexed: (n: number) => void): Promise<InventoryFollower> {
  const info = await jsm.streams.info(STREAMS.inventory)
  const lastAtStart = info.state.last_seq
  const consumer = await js.consumers.get(STREAMS.inventory, { deliver_policy: DeliverPolicy.All })
  const messages: ConsumerMessages = await consumer.consume({ max_messages: 256 })
  let indexed = 0
  let seen = 0
  let resolveCaughtUp!: (v: { indexed: number; seen: number }) => void
  const caughtUp = new Promise<{ indexed: number; seen: number }>((r) => (resolveCaughtUp = r))
  let done = info.state.messages === 0
  if (done) resolveCaughtUp({ indexed, seen })
  const batch: Inventory[] = []

  const flush = () => {
    if (batch.length === 0) return
    try {
      indexImages(store, batch.map((inventory) => ({ inventory })))
      indexed += batch.length
      onIndexed(batch.length)
    } catch (err) {
      log.error({ err, images: batch.length }, 'could not index inventories from VIGIL_INVENTORY')
    }
    batch.length = 0
  }

  const loop = (async () => {
    for await (const m of messages) {
      seen++
      try {
        const inventory = await decodeInventory(m)
        const have = readImage(store, inventory.image.digest)
        if (!have || have.analyzerSet !== inventory.analyzerSet) batch.push(inventory)
      } catch (err) {
        log.error({ err: (err as Error).message, subject: m.subject, seq: m.seq }, 'an inventory message does not decode; skipped')
      }
      const atStartEnd = !done && m.seq >= lastAtStart
      if (batch.length >= BATCH || m.info.pending === 0 || atStartEnd) flush()
      if (atStartEnd) {
        done = true
        resolveCaughtUp({ indexed, seen })
      }
    }
    flush()
  })()

  return {
    caughtUp,
    stop: async () => {
      await messages.close().catch(() => undefined)
      await loop.catch(() => undefined)
      if (!done) resolveCaughtUp({ indexed, seen })
    },
  }
}
