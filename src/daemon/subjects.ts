import { AckPolicy, JetStreamApiCodes, JetStreamApiError, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import type { DaemonConfig } from './config.js'

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
/** Feed delta outcomes by stream sequence (KV): who announced a delta, which were dead-lettered. */
export const FEED_LEDGER_BUCKET = 'vigil-feed-ledger'

const DAY_MS = 24 * 3_600_000
/** How long VIGIL_FEED keeps a delta (and the feed ledger what became of it). */
export const FEED_MAX_AGE_MS = 90 * DAY_MS

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
 * Creates streams and consumers, or leaves them as they are: every replica runs this at start and
 * after a reconnect (a broker that lost its store gets them back). An existing stream whose
 * subjects differ is an operator's change and is not overwritten.
 */
export async function ensureTopology(jsm: JetStreamManager, config: Pick<DaemonConfig, 'ackWaitMs' | 'replicaId'>): Promise<void> {
  for (const cfg of streamConfigs()) {
    try {
      await jsm.streams.info(cfg.name)
    } catch (err) {
      if (!isNotFound(err)) throw err
      try {
        await jsm.streams.add(cfg)
      } catch (addErr) {
        // Another replica created it between our info and add.
        if (!/already in use|exists/i.test((addErr as Error).message)) throw addErr
      }
    }
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
