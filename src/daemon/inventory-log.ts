import { promisify } from 'node:util'
import { gunzip, gzip } from 'node:zlib'
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import { headers as natsHeaders } from '@nats-io/transport-node'
import { Packr } from 'msgpackr'
import { indexImages } from '../assess/index.js'
import { VigilError } from '../errors.js'
import type { Store } from '../store/env.js'
import { readImage } from '../store/images.js'
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
