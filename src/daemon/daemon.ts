import { jetstream, jetstreamManager, type JetStreamClient, type JsMsg } from '@nats-io/jetstream'
import { headers as natsHeaders } from '@nats-io/transport-node'
import type { FastifyInstance } from 'fastify'
import { ensureSchema, resumePending, warmIndex } from '../assess/index.js'
import { collectYoungBetweenDeltas } from '../assess/gc.js'
import { toErrorRecord, VigilError, type ErrorRecord } from '../errors.js'
import { Metrics } from '../http/metrics.js'
import { closeHttp, createHttpServer, listenHttp } from '../http/server.js'
import { LayerPool } from '../layers/pool.js'
import { loadSecretKey } from '../secrets.js'
import { openStore, storeFault, type Store } from '../store/env.js'
import { clusterServers, connectBroker, untilAvailable, type Broker } from './broker.js'
import { resolveReplicas, type DaemonConfig } from './config.js'
import { FeedAnnouncer } from './announcer.js'
import { followFeed, type FeedFollower } from './feed.js'
import { followInventories, reconcileInventories, scheduleReconcile, type InventoryFollower } from './inventory-log.js'
import { FeedLedger, JobLedger } from './ledger.js'
import type { Logger } from './logger.js'
import { publishFindingsChanged } from './results.js'
import { openAliases } from './scan.js'
import { StoreGate } from './store-gate.js'
import { ANNOUNCER_BUCKET, ensureTopology, FEED_LEDGER_BUCKET, JOBS_CONSUMER, LEDGER_BUCKET, STREAMS, SUBJECTS } from './subjects.js'
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
  // A rejection nobody awaited (lmdb-js rejects a second promise for a failed commit, say) is
  // logged, not fatal: the daemon keeps serving what it can (docs/daemon.md "Store faults").
  const onUnhandled = (reason: unknown) => {
    void storeFault(reason).then((fault) => {
      const rec = toErrorRecord(fault)
      log.error({ code: rec.code, error: rec.message }, 'unhandled rejection; the daemon keeps serving')
    })
  }
  process.on('unhandledRejection', onUnhandled)
  let broker: Broker | undefined
  let pool: LayerPool | undefined
  let openHttp: FastifyInstance | undefined
  const metrics = new Metrics()
  try {
    ensureSchema(store)
    broker = await connectBroker(config, log)
    const { nc } = broker
    const jsm = await untilAvailable('the JetStream API', () => jetstreamManager(nc), log)
    const js = jetstream(nc)
    // Chosen again on every attempt and reconnect: a cluster seen with a server down reports
    // fewer servers, and the default rises to 3 once they are all back.
    let replicas = resolveReplicas(config.replicas, 1)
    let loggedChoice = ''
    const topology = async () => {
      const servers = clusterServers(nc)
      replicas = resolveReplicas(config.replicas, servers)
      if (replicas.replicas > 1 && !nc.info?.cluster) throw new VigilError('ERR_CONFIG', `--replicas ${replicas.replicas}: the NATS server at ${broker!.url} is not part of a cluster, so it keeps one copy of each stream; use --replicas 1 or a NATS cluster`)
      const choice = `streams and buckets get ${replicas.replicas} replica(s)${replicas.explicit ? '' : ` (NATS reports ${servers} server(s))`}`
      if (choice !== loggedChoice) {
        loggedChoice = choice
        log.info({ cluster: nc.info?.cluster, servers, replicas: replicas.replicas, chosenBy: replicas.explicit ? 'config' : 'default' }, choice)
        if (replicas.replicas > servers) log.warn({ servers, replicas: replicas.replicas }, `--replicas ${replicas.replicas} but NATS reports ${servers} server(s) up: streams are placed once enough servers are`)
      }
      await ensureTopology(js, jsm, config, replicas, log)
    }
    await untilAvailable('streams, buckets and consumers', topology, log)
    log.debug('streams and consumers in place')
    const ledger = await untilAvailable(`the ${LEDGER_BUCKET} bucket`, () => JobLedger.open(js), log)
    const feedLedger = await untilAvailable(`the ${FEED_LEDGER_BUCKET} bucket`, () => FeedLedger.open(js), log)
    pool = new LayerPool({ threads: config.workers })
    const maxPayload = () => nc.info?.max_payload ?? 1024 * 1024
    const deadLetter = (m: JsMsg, error: VigilError | ErrorRecord) => publishDeadLetter(js, m, toErrorRecord(error))
    let connected = true
    let caughtUp = false
    let stopping = false

    const gate = new StoreGate(store.path, log)
    const worker = new JobWorker({ config, js, maxPayload, ledger, scan: { store, pool, secretKey: secret.key, aliases: openAliases(store), targetPolicy: config.targetPolicy }, metrics, log, deadLetter, gate })
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
          topology().catch((err: unknown) => log.error({ error: (err as Error).message }, 'could not re-create streams after reconnect'))
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
    const announcer = await untilAvailable(`the ${ANNOUNCER_BUCKET} bucket`, () => FeedAnnouncer.open(js, config.replicaId, log), log)
    const inventories: InventoryFollower = await untilAvailable(`the ${STREAMS.inventory} stream`, () => followInventories(js, jsm, store, log, (n) => (metrics.inventoriesReplicated += n)), log)
    const feed: FeedFollower = await untilAvailable(`this replica's consumer on ${STREAMS.feed}`, () => followFeed({
      js, jsm, store, log, config, ledger: feedLedger, gate,
      onApplied: (a, delta) => {
        metrics.feedDeltas++
        // Deltas applied while catching up are kept too: the announcer announces, once it leads,
        // every kept delta past the cluster's announced mark, so one published while every replica
        // was down is still announced, and one announced before is not again.
        announcer.applied(delta.seq, a.events, delta.encoding)
        if (announcer.leads()) metrics.findingsEvents += a.events.length
      },
      deadLetter: (m, e) => deadLetter(m, e),
    }), log)
    log.debug('followers started; waiting for catch-up')
    const rebuilt = await inventories.caughtUp
    await feed.caughtUp
    caughtUp = true
    log.info({ inventories: rebuilt.seen, indexed: rebuilt.indexed, ms: Math.round(performance.now() - started), replica: config.replicaId }, 'index caught up with VIGIL_INVENTORY and VIGIL_FEED; ready')

    announcer.start()
    const reconciler = scheduleReconcile((signal) => reconcileInventories(js, jsm, store, maxPayload(), log, signal), config.reconcileMs, log)
    worker.start(await untilAvailable(`the ${JOBS_CONSUMER} consumer`, () => js.consumers.get(STREAMS.jobs, JOBS_CONSUMER), log))
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
          ['reconcile', () => reconciler.stop()],
          ['feed', () => feed.stop()],
          ['announcer', () => announcer.stop()],
          ['inventory', () => inventories.stop()],
          ['http', () => http?.close()],
          ['nats', () => ownedBroker.close()],
          ['pool', () => ownedPool.close()],
          ['store', () => store.close()],
          ['metrics', () => metrics.close()],
          ['guard', () => void process.off('unhandledRejection', onUnhandled)],
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
    process.off('unhandledRejection', onUnhandled)
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
