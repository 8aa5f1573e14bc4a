import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureSchema } from '../../src/assess/index.js'
import { parseDaemonConfig } from '../../src/daemon/config.js'
import { decodeInventory, inventoryOnStream, reconcileInventories } from '../../src/daemon/inventory-log.js'
import { JobLedger } from '../../src/daemon/ledger.js'
import { createLogger } from '../../src/daemon/logger.js'
import { openAliases } from '../../src/daemon/scan.js'
import { ensureTopology, JOBS_CONSUMER, STREAMS } from '../../src/daemon/subjects.js'
import { StoreGate } from '../../src/daemon/store-gate.js'
import { JobWorker } from '../../src/daemon/work.js'
import { Metrics } from '../../src/http/metrics.js'
import { LayerPool } from '../../src/layers/pool.js'
import { openStore, type Store } from '../../src/store/env.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { HAS_NATS_SERVER, noteNatsMissing, startNats, type NatsServer } from '../helpers/nats.js'
import { CORPUS, HAS_SMALL_IMAGE, JobClient, noteCorpusMissing, removeDir, SMALL_TARGET, tempDir, TEST_SECRET_KEY } from './harness.js'

noteNatsMissing()
noteCorpusMissing()

/** The daemon's JetStream client with the first `failures` inventory publishes failing as a lost broker ack would. */
function failingInventoryPublishes(js: JetStreamClient, failures: number): { js: JetStreamClient; failed: () => number } {
  let failed = 0
  const proxy = new Proxy(js, {
    get(target, prop) {
      if (prop === 'publish') {
        return async (subject: string, ...rest: unknown[]) => {
          if (subject.startsWith('vigil.inventory.') && failed < failures) {
            failed++
            throw Object.assign(new Error('timeout'), { name: 'TimeoutError' })
          }
          return (target.publish as (...a: unknown[]) => Promise<unknown>)(subject, ...rest)
        }
      }
      const value = Reflect.get(target, prop) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
  return { js: proxy, failed: () => failed }
}

/**
 * The system of record is never missing an answered image: a scan whose inventory publish failed
 * is answered from the store on its next delivery, and that path publishes the inventory the
 * stream lacks; the periodic reconciliation republishes any indexed image the stream lost.
 */
describe.skipIf(!HAS_NATS_SERVER || !HAS_SMALL_IMAGE)('inventories on VIGIL_INVENTORY', () => {
  let nats: NatsServer
  let nc: NatsConnection
  let jsm: JetStreamManager
  let client: JobClient
  let store: Store
  let pool: LayerPool
  let dataDir: string
  const log = createLogger('silent')

  beforeAll(async () => {
    ensureBuilt()
    nats = await startNats()
    nc = await connect({ servers: nats.url })
    jsm = await jetstreamManager(nc)
    client = await JobClient.open(nats.url)
    dataDir = await tempDir('vigil-record-')
    store = openStore(dataDir)
    ensureSchema(store)
    pool = new LayerPool({ threads: 1 })
  }, 60_000)

  afterAll(async () => {
    await client?.close()
    await nc?.close()
    await pool?.close()
    await store?.close()
    await nats?.dispose()
    if (dataDir) await removeDir(dataDir)
  })

  it('an inventory publish that fails once: the retry answers from the store and the image still ends on VIGIL_INVENTORY', async () => {
    const config = parseDaemonConfig({ nats: nats.url, data: dataDir, http: 'off', workers: '1', concurrency: '1', 'retry-base-ms': '100', 'ack-wait-ms': '5000' }, { VIGIL_TARGET_ROOTS: CORPUS })
    const real = jetstream(nc)
    await ensureTopology(real, jsm, config, { replicas: 1, explicit: false }, log)
    const { js, failed } = failingInventoryPublishes(real, 1)
    const metrics = new Metrics()
    const worker = new JobWorker({
      config, js, maxPayload: () => 1024 * 1024, ledger: await JobLedger.open(real), metrics, log,
      scan: { store, pool, secretKey: TEST_SECRET_KEY, aliases: openAliases(store), targetPolicy: config.targetPolicy },
      deadLetter: async () => undefined, gate: new StoreGate(store.path, log),
    })
    worker.start(await real.consumers.get(STREAMS.jobs, JOBS_CONSUMER))
    try {
      await client.publish('vigil.jobs.scan', { id: 'fails-once', target: SMALL_TARGET })
      await client.waitForResults((rs) => rs.some((r) => r.jobId === 'fails-once'), 60_000)
    } finally {
      await worker.stop(5_000)
      metrics.close()
    }
    expect(failed()).toBe(1)
    const result = client.scanResults().find((r) => r.jobId === 'fails-once')!
    // The second delivery found the image indexed by the first and answered from the store...
    expect(result.body).toMatchObject({ status: 'done', fromStore: true, deliveries: 2 })
    const digest = result.digest!
    // ...and the stream has it, as the inventory the store holds.
    expect(await inventoryOnStream(real, digest)).toBe(true)
    const stored = await jsm.streams.getMessage(STREAMS.inventory, { last_by_subj: `vigil.inventory.${digest.slice(7)}` })
    const inventory = await decodeInventory({ data: stored!.data, headers: stored!.header })
    expect(inventory.image.digest).toBe(digest)
    expect(inventory.packages.length).toBe(result.body.packages)
  }, 120_000)

  it('reconciliation republishes an indexed image the stream lost', async () => {
    const digest = client.scanResults().find((r) => r.jobId === 'fails-once')?.digest
    expect(digest).toBeDefined()
    const subject = `vigil.inventory.${digest!.slice(7)}`
    await jsm.streams.purge(STREAMS.inventory, { filter: subject })
    expect(await inventoryOnStream(jetstream(nc), digest!)).toBe(false)

    const first = await reconcileInventories(jetstream(nc), jsm, store, 1024 * 1024, log)
    expect(first).toEqual({ indexed: 1, missing: 1, republished: 1, failed: 0 })
    const back = await jsm.streams.getMessage(STREAMS.inventory, { last_by_subj: subject })
    expect((await decodeInventory({ data: back!.data, headers: back!.header })).image.digest).toBe(digest)
    // A second pass finds nothing to do.
    expect(await reconcileInventories(jetstream(nc), jsm, store, 1024 * 1024, log)).toEqual({ indexed: 1, missing: 0, republished: 0, failed: 0 })
  }, 60_000)
})
