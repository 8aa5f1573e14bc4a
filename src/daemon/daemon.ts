import { jetstream, jetstreamManager, type JetStreamClient, type JsMsg } from '@nats-io/jetstream'
import { headers as natsHeaders } from '@nats-io/transport-node'
import type { FastifyInstance } from 'fastify'
import { ensureSchema, resumePending, warmIndex } from '../assess/index.js'
import { collectYoungBetweenDeltas } from '../assess/gc.js'
import { toErrorRecord, type ErrorRecord, type VigilError } from '../errors.js'
import { Metrics } from '../http/metrics.js'
import { closeHttp, createHttpServer, listenHttp } from '../http/server.js'
import { LayerPool } from '../layers/pool.js'
import { loadSecretKey } from '../secrets.js'
import { openStore, type Store } from '../store/env.js'
import { connectBroker, type Broker } from './broker.js'
import type { DaemonConfig } from './config.js'
import { followFeed, type FeedFollower } from './feed.js'
import { followInventories, type InventoryFollower } from './inventory-log.js'
import { JobLedger } from './ledger.js'
import type { Logger } from './logger.js'
import { publishFindingsChanged } from './results.js'
import { openAliases } from './scan.js'
import { ensureTopology, JOBS_CONSUMER, STREAMS, SUBJECTS } from './subjects.js'
import { JobWorker } from './work.js'

export interface Daemon {
  readonly metrics: Metrics
  readonly store: Store
  readonly http: FastifyInstance | undefined
  /** host:port HTTP listens on (the real port when 0 was asked for). */
  readonly httpAddress: string | undefined
  readonly natsUrl: string
  ready(): boolean
  /** Graceful: stop pulling, finish or hand back in-flight jobs, drain, close pool and LMDB. */
  stop(): Promise<void>
}

/**
 * Start order matters: store and key first (a bad data dir fails before touching the broker),
 * then the broker and its topology, then the inventory rebuild and feed catch-up, and only then
 * jobs — so a replica never answers from a half-built index.
 */
export async function startDaemon(config: Readonly<DaemonConfig>, log: Logger): Promise<Daemon> {
  const secret = loadSecretKey(config.dataDir)
  if (secret.source === 'created') log.warn({ path: secret.path }, `created a new secret key at ${secret.path} (mode 0600); replicas must share one key: set VIGIL_SECRET_KEY to its contents on every replica`)
  const store = openStore(config.dataDir)
  let broker: Broker | undefined
  let pool: LayerPool | undefined
  let openHttp: FastifyInstance | undefined
  const metrics = new Metrics()
  try {
    ensureSchema(store)
    broker = await connectBroker(config, log)
    const { nc } = broker
    const jsm = await jetstreamManager(nc)
    const js = jetstream(nc)
    await ensureTopology(jsm, config)
    log.debug('streams and consumers in place')
    const ledger = await JobLedger.open(js)
    pool = new LayerPool({ threads: config.workers })
    const maxPayload = () => nc.info?.max_payload ?? 1024 * 1024
    const deadLetter = (m: JsMsg, error: VigilError | ErrorRecord) => publishDeadLetter(js, m, toErrorRecord(error))
    let connected = true
    let caughtUp = false
    let stopping = false

    const worker = new JobWorker({ config, js, maxPayload, ledger, scan: { store, pool, secretKey: secret.key, aliases: openAliases(store) }, metrics, log, deadLetter })
    metrics.sources = {
      inFlight: () => worker.active,
      concurrency: () => config.concurrency,
      poolThreads: () => config.workers,
      // Entry count from LMDB's page stats: O(1), unlike counting keys.
      indexedImages: () => (store.images.getStats() as { entryCount: number }).entryCount,
      ready: () => connected && caughtUp && !stopping,
    }
    const readiness = () => ({ nats: connected && !nc.isClosed(), store: !stopping, rebuilt: caughtUp })

    // Re-create streams after a reconnect: a broker that lost its store would otherwise refuse jobs.
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          connected = false
          log.warn({ server: (s as { server?: string }).server }, 'NATS disconnected; reconnecting')
        } else if (s.type === 'reconnect') {
          connected = true
          metrics.brokerReconnects++
          log.info('NATS reconnected')
          ensureTopology(jsm, config).catch((err: unknown) => log.error({ error: (err as Error).message }, 'could not re-create streams after reconnect'))
        }
      }
    })()

    // Work a crash left in the re-assessment queue is finished before anything new.
    const resumeId = `resume-${Date.now()}`
    const leftover = resumePending(store, { onChange: (e) => void publishFindingsChanged(js, e, { jobId: resumeId }, 'msgpack').catch(() => undefined) })
    if (leftover.works > 0) log.info({ works: leftover.works }, 'finished re-assessment work interrupted by a previous stop')
    // Young-generation collections between deltas rather than inside them (assess/gc.ts).
    collectYoungBetweenDeltas()
    // Feed deltas walk the index's image lists: held packed in memory from here on.
    const warmStarted = performance.now()
    const warmed = warmIndex(store)
    log.debug({ ...warmed, ms: Math.round(performance.now() - warmStarted) }, 'index warmed')

    const http = config.http ? await createHttpServer({ config, store, metrics, nc, js, secretKey: secret.key, log, readiness }) : undefined
    openHttp = http
    let httpAddress: string | undefined
    if (http && config.http) {
      httpAddress = await listenHttp(http, config.http)
      log.info({ http: httpAddress }, 'HTTP listening')
    }

    const started = performance.now()
    log.debug('following VIGIL_INVENTORY and VIGIL_FEED')
    const inventories: InventoryFollower = await followInventories(js, jsm, store, log, (n) => (metrics.inventoriesReplicated += n))
    const feed: FeedFollower = await followFeed({
      js, jsm, store, log, replicaId: config.replicaId, maxMessageBytes: config.maxMessageBytes,
      announce: () => caughtUp,
      onApplied: (a) => {
        metrics.feedDeltas++
        if (caughtUp) metrics.findingsEvents += a.events.length
      },
      deadLetter: (m, e) => deadLetter(m, e),
    })
    log.debug('followers started; waiting for catch-up')
    const rebuilt = await inventories.caughtUp
    await feed.caughtUp
    caughtUp = true
    log.info({ inventories: rebuilt.seen, indexed: rebuilt.indexed, ms: Math.round(performance.now() - started), replica: config.replicaId }, 'index caught up with VIGIL_INVENTORY and VIGIL_FEED; ready')

    worker.start(await js.consumers.get(STREAMS.jobs, JOBS_CONSUMER))
    log.info({ concurrency: config.concurrency, workers: config.workers }, 'pulling jobs')

    const ownedBroker = broker
    const ownedPool = pool
    return {
      metrics, store, http, httpAddress, natsUrl: broker.url,
      ready: () => connected && caughtUp && !stopping,
      stop: async () => {
        if (stopping) return
        stopping = true
        log.info({ inFlight: worker.active, graceMs: config.graceMs }, 'stopping: no new jobs; finishing in-flight work')
        // Each step runs even when an earlier one fails: an embedded nats-server must not outlive us.
        const steps: [string, () => Promise<unknown> | void][] = [
          ['jobs', () => worker.stop(config.graceMs)],
          ['feed', () => feed.stop()],
          ['inventory', () => inventories.stop()],
          ['http', () => http?.close()],
          ['nats', () => ownedBroker.close()],
          ['pool', () => ownedPool.close()],
          ['store', () => store.close()],
          ['metrics', () => metrics.close()],
        ]
        for (const [name, step] of steps) {
          try {
            await step()
          } catch (err) {
            log.error({ step: name, error: (err as Error).message }, 'shutdown step failed; continuing')
          }
        }
        log.info('stopped')
      },
    }
  } catch (err) {
    // HTTP first: its plugins follow NATS subjects and would keep retrying on a closed connection.
    if (openHttp) await closeHttp(openHttp)
    await broker?.close().catch(() => undefined)
    await pool?.close().catch(() => undefined)
    await store.close().catch(() => undefined)
    metrics.close()
    throw err
  }
}

/** The original message, byte for byte, with why it ended here; awaited so it is stored before the term. */
async function publishDeadLetter(js: JetStreamClient, m: JsMsg, error: ErrorRecord): Promise<void> {
  const h = natsHeaders()
  for (const [k, v] of m.headers ?? []) for (const value of v) h.append(k, value)
  h.set('Vigil-Error-Code', error.code)
  h.set('Vigil-Error', error.message.slice(0, 1024))
  h.set('Vigil-Deliveries', String(m.info.deliveryCount))
  h.set('Vigil-Original-Subject', m.subject)
  h.set('Vigil-Original-Seq', String(m.seq))
  await js.publish(SUBJECTS.dlq(m.subject), m.data, { headers: h, msgID: `dlq:${m.info.stream}:${m.seq}` })
}
