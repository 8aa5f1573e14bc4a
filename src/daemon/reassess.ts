import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import { reassessKeys, reassessmentKeys, type FindingsChanged } from '../assess/index.js'
import type { Store } from '../store/env.js'
import { JobLedger, readJsonEntry } from './ledger.js'
import type { Logger } from './logger.js'
import type { ReassessJob } from './messages.js'
import { LEDGER_TTL_MS, REASSESS_BUCKET } from './subjects.js'

export interface ReassessOutcome {
  images: number
  missing: string[]
  /** FindingsChanged events published for the job (over every delivery that worked on it). */
  changed: number
  /** The job carried on from where an earlier delivery stopped. */
  resumed: boolean
}

/** How far a re-assess job got: the last store key whose variants are re-matched and announced. */
export interface ReassessProgress {
  after: string
  events: number
  /** Batches that published events (numbers the events' Nats-Msg-Id). */
  parts: number
  replica: string
  at: string
}

/**
 * Keys per batch: each batch is one LMDB commit and then a turn of the event loop. A popular key
 * (a base image's libc) has hundreds of variants, so batches stay small.
 */
const BATCH_KEYS = 4
/** The cursor is saved at most this often (and at the end). */
const SAVE_EVERY_MS = 500

/** Events encoded and sent per turn of the event loop; their acks are awaited together. */
const PUBLISH_SLICE = 32

/**
 * Publishes with pipelined acks, a slice at a time: encoding hundreds of events in one go held
 * the event loop for a quarter second.
 */
export async function publishInSlices<T>(items: readonly T[], publish: (item: T) => Promise<void>): Promise<void> {
  const acks: Promise<void>[] = []
  for (let i = 0; i < items.length; i += PUBLISH_SLICE) {
    for (const item of items.slice(i, i + PUBLISH_SLICE)) acks.push(publish(item))
    await yieldToLoop()
  }
  await Promise.all(acks)
}

/** Job id → progress, in a KV bucket every replica shares (a redelivery may land elsewhere). */
export class ReassessProgressBook {
  private constructor(private readonly kv: KV) {}

  static async open(js: JetStreamClient): Promise<ReassessProgressBook> {
    return new ReassessProgressBook(await new Kvm(js).create(REASSESS_BUCKET, { history: 1, ttl: LEDGER_TTL_MS }))
  }

  async get(jobId: string): Promise<ReassessProgress | undefined> {
    return readJsonEntry<ReassessProgress>(this.kv, JobLedger.key(jobId))
  }

  async put(jobId: string, progress: ReassessProgress): Promise<void> {
    await this.kv.put(JobLedger.key(jobId), JSON.stringify(progress))
  }
}

export interface ReassessRun {
  store: Store
  progress: ReassessProgressBook
  replicaId: string
  log: Logger
  signal: AbortSignal
  /** Publishes one batch's events, awaited before the cursor passes them; `part` numbers the batch. */
  announce: (events: FindingsChanged[], part: number) => Promise<void>
}

/**
 * Re-matches stored images against the advisory data as it is now (after a manual import, or to
 * check): every variant under the images' store keys is re-matched once (assess/delta.ts
 * reassessKeys), changed findings are written, and each changed image gets a FindingsChanged.
 * Nothing is pulled. It runs in small batches with a turn of the event loop between them, so
 * probes stay fast and the job's `working()` heartbeats go out (the job is not redelivered while
 * it runs); its cursor is saved in a KV bucket, so a delivery after a crash or a timeout carries
 * on from there instead of starting over.
 */
export async function runReassess(job: ReassessJob, run: ReassessRun): Promise<ReassessOutcome> {
  const saved = await run.progress.get(job.id)
  const { keys, images, missing } = await reassessmentKeys(run.store, job.all ? undefined : job.digests)
  const todo = saved ? keys.filter((k) => k > saved.after) : keys
  if (saved) run.log.info({ jobId: job.id, keys: keys.length, left: todo.length, events: saved.events, by: saved.replica }, 're-assessment resumed where an earlier delivery stopped')
  let events = saved?.events ?? 0
  let parts = saved?.parts ?? 0
  let pending: FindingsChanged[] = []
  let lastSave = Date.now()
  await reassessKeys(run.store, todo, {
    batchSize: BATCH_KEYS,
    signal: run.signal,
    onChange: (e) => pending.push(e),
    afterBatch: async ({ lastKey, done, total }) => {
      if (pending.length > 0) {
        const batch = pending
        pending = []
        // Tell no one before it is on disk: `flushed` also covers lmdb-js's batched async writes.
        await run.store.root.flushed
        await run.announce(batch, ++parts)
        events += batch.length
      }
      if (done === total || Date.now() - lastSave >= SAVE_EVERY_MS) {
        await run.progress.put(job.id, { after: lastKey, events, parts, replica: run.replicaId, at: new Date().toISOString() })
        lastSave = Date.now()
        run.log.info({ jobId: job.id, done: done + keys.length - todo.length, keys: keys.length, events }, 're-assessing')
      }
    },
  })
  return { images, missing, changed: events, resumed: saved !== undefined }
}
