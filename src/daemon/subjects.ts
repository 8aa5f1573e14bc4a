import { AckPolicy, JetStreamApiCodes, JetStreamApiError, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { nanos } from '@nats-io/transport-node'
import { SCAN_TTL_MS, SCANS_BUCKET } from '../http/harbor/scans.js'
import { isTransientBrokerError } from './broker.js'
import type { DaemonConfig } from './config.js'
import type { Logger } from './logger.js'

/** Subjects and streams: the message contract (docs/messages.md). */
export const SUBJECTS = {
  scan: 'vigil.jobs.scan',
  reassess: 'vigil.jobs.reassess',
  feedDelta: 'vigil.feed.delta',
  scanResult: 'vigil.results.scan',
  reassessResult: 'vigil.results.reassess',
  findings: (hex: string) => `vigil.results.findings.${hex}`,
  inventory: (hex: string) => `vigil.inventory.${hex}`,
  dlq: (original: string) => `vigil.dlq.${original}`,
} as const

export const STREAMS = {
  jobs: 'VIGIL_JOBS',
  feed: 'VIGIL_FEED',
  inventory: 'VIGIL_INVENTORY',
  results: 'VIGIL_RESULTS',
  dlq: 'VIGIL_DLQ',
} as const

/** One durable pull consumer shared by every replica: the work queue hands each job to one of them. */
export const JOBS_CONSUMER = 'vigil-workers'
export const feedConsumerName = (replicaId: string) => `vigil-feed-${replicaId}`
/** Job outcomes by job id (KV): what keeps a redelivered job from publishing a second result. */
export const LEDGER_BUCKET = 'vigil-job-ledger'
/** How far a re-assess job got (KV), so a redelivery after a crash resumes instead of starting over. */
export const REASSESS_BUCKET = 'vigil-reassess-progress'
/** Which replica announces feed deltas' FindingsChanged, and up to which delta (KV; announcer.ts). */
export const ANNOUNCER_BUCKET = 'vigil-announcer'
/** Feed deltas dead-lettered, by stream sequence (KV): one DLQ copy however many replicas refuse one. */
export const FEED_LEDGER_BUCKET = 'vigil-feed-ledger'

const DAY_MS = 24 * 3_600_000
export const LEDGER_TTL_MS = 7 * DAY_MS
/** How long VIGIL_FEED keeps a delta (and the feed ledger what became of it). */
export const FEED_MAX_AGE_MS = 90 * DAY_MS

/**
 * Every KV bucket the daemon and its Harbor adapter use, created here with the stream replicas.
 * A function: harbor/scans.ts imports this module too, and a module-level list would read its
 * constants before they exist when that file loads first.
 */
const buckets = (): { name: string; ttlMs: number }[] => [
  { name: LEDGER_BUCKET, ttlMs: LEDGER_TTL_MS },
  { name: REASSESS_BUCKET, ttlMs: LEDGER_TTL_MS },
  // Two keys, rewritten all the time; no age limit (an expired mark would re-announce old deltas).
  { name: ANNOUNCER_BUCKET, ttlMs: 0 },
  { name: FEED_LEDGER_BUCKET, ttlMs: FEED_MAX_AGE_MS },
  { name: SCANS_BUCKET, ttlMs: SCAN_TTL_MS },
]
/** The stream behind a KV bucket. */
export const bucketStream = (bucket: string) => `KV_${bucket}`

/** How many copies streams and buckets get, and whether an operator asked for it (config.ts resolveReplicas). */
export interface ReplicaChoice {
  replicas: number
  explicit: boolean
}

function streamConfigs(): (Partial<StreamConfig> & { name: string })[] {
  return [
    { name: STREAMS.jobs, subjects: ['vigil.jobs.>'], retention: RetentionPolicy.Workqueue, storage: StorageType.File },
    // Limits retention: every replica's own consumer reads every delta; a fresh replica replays them.
    { name: STREAMS.feed, subjects: ['vigil.feed.>'], retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: nanos(FEED_MAX_AGE_MS) },
    // The system of record for inventories: one message per digest, the newest (the KV pattern).
    { name: STREAMS.inventory, subjects: ['vigil.inventory.*'], retention: RetentionPolicy.Limits, storage: StorageType.File, max_msgs_per_subject: 1, discard: DiscardPolicy.Old },
    // Results are also kept for a week, so a consumer that was away can still read them; the
    // duplicate window (Nats-Msg-Id: job id) keeps one copy of a result published twice.
    { name: STREAMS.results, subjects: ['vigil.results.>'], retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: nanos(7 * DAY_MS), duplicate_window: nanos(10 * 60_000) },
    { name: STREAMS.dlq, subjects: ['vigil.dlq.>'], retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: nanos(30 * DAY_MS) },
  ]
}

/**
 * Creates streams, buckets and consumers, or brings existing ones to the replica count: every
 * replica runs this at start and after a reconnect (a broker that lost its store gets them back).
 * Durable consumers are created without a replica count of their own, so they follow their
 * stream's (and move with it when it is scaled). An existing stream keeps every other setting
 * (an operator's change is not overwritten); differences are logged.
 */
export async function ensureTopology(js: JetStreamClient, jsm: JetStreamManager, config: Pick<DaemonConfig, 'ackWaitMs' | 'replicaId'>, want: ReplicaChoice, log: Logger): Promise<void> {
  for (const cfg of streamConfigs()) {
    let info: StreamInfo | undefined
    try {
      info = await jsm.streams.info(cfg.name)
    } catch (err) {
      if (!isNotFound(err)) throw err
      try {
        await jsm.streams.add({ ...cfg, num_replicas: want.replicas })
        log.info({ stream: cfg.name, replicas: want.replicas }, 'stream created')
        continue
      } catch (addErr) {
        // Another replica created it between our info and add.
        if (!/already in use|exists/i.test((addErr as Error).message)) throw addErr
        info = await jsm.streams.info(cfg.name)
      }
    }
    reportDifferences(info, cfg, log)
    await scaleStream(jsm, info, want, log)
  }
  const kvm = new Kvm(js)
  for (const bucket of buckets()) {
    // Creates the bucket when missing; an existing one is opened as it is and scaled below.
    await kvm.create(bucket.name, { history: 1, ...(bucket.ttlMs > 0 ? { ttl: bucket.ttlMs } : {}), replicas: want.replicas })
    await scaleStream(jsm, await jsm.streams.info(bucketStream(bucket.name)), want, log)
  }
  await ensureConsumer(jsm, STREAMS.jobs, {
    durable_name: JOBS_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(config.ackWaitMs),
    // Deliveries are counted by the daemon (maxDeliveries → dead-letter), not capped by the server,
    // so that the last one still publishes a result instead of vanishing.
    max_deliver: -1,
    max_ack_pending: 10_000,
    deliver_policy: DeliverPolicy.All,
  })
  await ensureConsumer(jsm, STREAMS.feed, {
    durable_name: feedConsumerName(config.replicaId),
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(Math.max(config.ackWaitMs, 60_000)),
    max_deliver: -1,
    deliver_policy: DeliverPolicy.All,
    // Deltas are applied in order: one in flight per replica.
    max_ack_pending: 1,
  })
}

/**
 * num_replicas is one of the settings NATS lets an existing stream change. The default only ever
 * raises it (a cluster seen with a server down must not shrink streams made on the whole one);
 * --replicas sets it either way. A refusal is logged with the server's reason, and the daemon
 * carries on with the stream as it is.
 */
async function scaleStream(jsm: JetStreamManager, info: StreamInfo, want: ReplicaChoice, log: Logger): Promise<void> {
  const name = info.config.name
  const have = info.config.num_replicas || 1
  if (have === want.replicas) return
  if (have > want.replicas && !want.explicit) {
    log.info({ stream: name, replicas: have, default: want.replicas }, `stream ${name} has ${have} replicas, more than the default ${want.replicas}: left as it is (set --replicas to change it)`)
    return
  }
  try {
    await jsm.streams.update(name, { ...info.config, num_replicas: want.replicas })
    log.info({ stream: name, from: have, to: want.replicas }, `stream ${name} scaled from ${have} to ${want.replicas} replicas`)
  } catch (err) {
    if (isTransientBrokerError(err)) throw err
    log.warn({ stream: name, replicas: have, wanted: want.replicas, error: (err as Error).message }, `could not change the replicas of stream ${name} from ${have} to ${want.replicas}: ${(err as Error).message}; it keeps ${have}`)
  }
}

const COMPARED: (keyof StreamConfig)[] = ['subjects', 'retention', 'storage', 'max_age', 'max_msgs_per_subject', 'duplicate_window', 'discard']

/** Settings of an existing stream that differ from what this version creates: reported, not changed. */
function reportDifferences(info: StreamInfo, cfg: Partial<StreamConfig>, log: Logger): void {
  const differs = COMPARED.filter((k) => cfg[k] !== undefined && JSON.stringify(cfg[k]) !== JSON.stringify(info.config[k]))
  if (differs.length === 0) return
  const settings = Object.fromEntries(differs.map((k) => [k, { expected: cfg[k], actual: info.config[k] }]))
  log.warn({ stream: info.config.name, settings }, `stream ${info.config.name} differs from what Vigil creates in ${differs.join(', ')}: left as it is (an operator's change); update or delete it to get the defaults`)
}
async function ensureConsumer(jsm: JetStreamManager, stream: string, cfg: Parameters<JetStreamManager['consumers']['add']>[1]): Promise<void> {
  try {
    await jsm.consumers.info(stream, cfg.durable_name!)
    return
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  await jsm.consumers.add(stream, cfg)
}

function isNotFound(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound
  return /not found/i.test((err as Error).message ?? '')
}
