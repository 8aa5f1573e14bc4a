import { createHash } from 'node:crypto'
import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import { FEED_LEDGER_BUCKET, FEED_MAX_AGE_MS, LEDGER_BUCKET } from './subjects.js'

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

const TTL_MS = 7 * 24 * 3_600_000

export class JobLedger {
  private constructor(private readonly kv: KV) {}

  static async open(js: JetStreamClient): Promise<JobLedger> {
    const kv = await new Kvm(js).create(LEDGER_BUCKET, { history: 1, ttl: TTL_MS })
    return new JobLedger(kv)
  }

  /** KV keys allow few characters; a job id may hold any, so the key is its hash. */
  static key(jobId: string): string {
    return createHash('sha256').update(jobId).digest('hex').slice(0, 40)
  }

  async get(jobId: string): Promise<LedgerEntry | undefined> {
    const entry = await this.kv.get(JobLedger.key(jobId))
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined
    try {
      return entry.json<LedgerEntry>()
    } catch {
      return undefined
    }
  }

  async record(jobId: string, entry: LedgerEntry): Promise<void> {
    await this.kv.put(JobLedger.key(jobId), JSON.stringify(entry))
  }
}

/**
 * What became of each feed delta, by its VIGIL_FEED sequence, shared by every replica: whether its
 * FindingsChanged events went out, and whether it was dead-lettered. Every replica applies every
 * delta, but only the first to apply one announces it (docs/messages.md "Who announces a change"),
 * and a poison delta gets one copy in VIGIL_DLQ however many replicas refuse it. Kept as long as
 * VIGIL_FEED keeps deltas, so a replica replaying old deltas finds them answered.
 */
export class FeedLedger {
  private constructor(private readonly kv: KV) {}

  static async open(js: JetStreamClient): Promise<FeedLedger> {
    return new FeedLedger(await new Kvm(js).create(FEED_LEDGER_BUCKET, { history: 1, ttl: FEED_MAX_AGE_MS }))
  }

  async announced(seq: number): Promise<boolean> {
    return this.has(`announced.${seq}`)
  }

  async markAnnounced(seq: number, events: number): Promise<void> {
    await this.kv.put(`announced.${seq}`, JSON.stringify({ events, at: new Date().toISOString() }))
  }

  async deadLettered(seq: number): Promise<boolean> {
    return this.has(`dead.${seq}`)
  }

  async markDeadLettered(seq: number, code: string): Promise<void> {
    await this.kv.put(`dead.${seq}`, JSON.stringify({ code, at: new Date().toISOString() }))
  }

  private async has(key: string): Promise<boolean> {
    const entry = await this.kv.get(key)
    return entry !== null && entry.operation === 'PUT'
  }
}
