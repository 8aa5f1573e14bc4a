import { createHash } from 'node:crypto'
import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import { FEED_LEDGER_BUCKET, FEED_MAX_AGE_MS, LEDGER_BUCKET, LEDGER_TTL_MS } from './subjects.js'

/**
 * Which jobs already have a published result, by job id, in a JetStream KV bucket that every
 * replica shares. A job redelivered after a crash (or to another replica) checks here first and,
 * when its result went out, is acked without a second one. It lives in NATS rather than LMDB
 * because the redelivery may land on a replica whose LMDB never saw the job.
 */
export interface LedgerEntry {
  status: 'done' | 'failed'
  digest?: string
  at: string
}

export class JobLedger {
  private constructor(private readonly kv: KV) {}

  /** The bucket itself is made by ensureTopology (with the stream replicas). */
  static async open(js: JetStreamClient): Promise<JobLedger> {
    const kv = await new Kvm(js).create(LEDGER_BUCKET, { history: 1, ttl: LEDGER_TTL_MS })
    return new JobLedger(kv)
  }

  /** KV keys allow few characters; a job id may hold any, so the key is its hash. */
  static key(jobId: string): string {
    return createHash('sha256').update(jobId).digest('hex').slice(0, 40)
  }

  async get(jobId: string): Promise<LedgerEntry | undefined> {
    return readJsonEntry<LedgerEntry>(this.kv, JobLedger.key(jobId))
  }

  async record(jobId: string, entry: LedgerEntry): Promise<void> {
    await this.kv.put(JobLedger.key(jobId), JSON.stringify(entry))
  }
}

/** A KV entry's JSON value; undefined when absent, deleted or unreadable (then the caller starts afresh). */
export async function readJsonEntry<T>(kv: KV, key: string): Promise<T | undefined> {
  const entry = await kv.get(key)
  if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined
  try {
    return entry.json<T>()
  } catch {
    return undefined
  }
}

/**
 * Which feed deltas were dead-lettered, by VIGIL_FEED sequence, shared by every replica: a poison
 * delta gets one copy in VIGIL_DLQ however many replicas refuse it. Kept as long as VIGIL_FEED
 * keeps deltas, so a replica replaying old deltas finds them answered.
 */
export class FeedLedger {
  private constructor(private readonly kv: KV) {}

  /** The bucket itself is made by ensureTopology (with the stream replicas). */
  static async open(js: JetStreamClient): Promise<FeedLedger> {
    return new FeedLedger(await new Kvm(js).create(FEED_LEDGER_BUCKET, { history: 1, ttl: FEED_MAX_AGE_MS }))
  }

  async deadLettered(seq: number): Promise<boolean> {
    return (await readJsonEntry(this.kv, `dead.${seq}`)) !== undefined
  }

  async markDeadLettered(seq: number, code: string): Promise<void> {
    await this.kv.put(`dead.${seq}`, JSON.stringify({ code, at: new Date().toISOString() }))
  }
}
