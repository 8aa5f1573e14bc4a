import { setTimeout as sleep } from 'node:timers/promises'
import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream'
import { toErrorRecord, VigilError, type ErrorRecord } from '../errors.js'
import type { Metrics } from '../http/metrics.js'
import { retryDelayMs, type DaemonConfig } from './config.js'
import type { JobLedger } from './ledger.js'
import type { Logger } from './logger.js'
import { decodeBytes, encodingOf, salvageJobId, validate, type Encoding, type ReassessJob, type ScanJob } from './messages.js'
import { doneResult, failedResult, publishFindingsChanged, publishReassessResult, publishScanResult } from './results.js'
import { publishInSlices, ReassessProgressBook, runReassess } from './reassess.js'
import { runScan, type ScanContext } from './scan.js'
import { recordInventory } from './inventory-log.js'
import { asStoreError, storeWrite } from '../store/env.js'
import { SUBJECTS } from './subjects.js'
import { releaseBlockedReads } from './abandon.js'
import type { StoreGate } from './store-gate.js'

export interface WorkDeps {
  config: Readonly<DaemonConfig>
  js: JetStreamClient
  maxPayload: () => number
  ledger: JobLedger
  scan: ScanContext
  metrics: Metrics
  log: Logger
  deadLetter: (m: JsMsg, error: VigilError | ErrorRecord) => Promise<void>
  gate: StoreGate
}

const SHUTDOWN = 'shutdown'

/**
 * Ends a message for good once its outcome (result, dead-letter copy) is stored. A bare `+TERM`:
 * nats-server before 2.10.4 ignores `+TERM <reason>` outright (it compares the whole payload), so
 * a reason would leave the message to be redelivered forever; every version removes a bare-termed
 * message from a work queue as an ack does. The reason is in the log and the DLQ headers instead.
 */
export function settle(m: JsMsg): void {
  m.term()
}

/** `work`, unless `signal` aborts first: then its abort reason, and `work` is left to end alone. */
export async function unlessAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined)
  if (signal.aborted) throw signal.reason
  let onAbort!: () => void
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([work, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/**
 * The job loop. It pulls only as many messages as it has free slots (bounded in-flight work is
 * the backpressure), and each job ends in exactly one of: ack after its result is stored and
 * published; nak with a growing delay for a retryable fault; term with a `failed` result for a
 * permanent one; dead-letter + `failed` result + term once deliveries reach maxDeliveries.
 */
export class JobWorker {
  private readonly inFlight = new Map<JsMsg, AbortController>()
  /** Job ids being worked on here: a second message with the same id waits for the first's outcome. */
  private readonly activeIds = new Set<string>()
  private stopping = false
  private wake: (() => void) | undefined
  private loop: Promise<void> | undefined

  constructor(private readonly deps: WorkDeps) {}

  get active(): number {
    return this.inFlight.size
  }

  start(consumer: Consumer): void {
    this.loop = this.run(consumer)
  }

  private async run(consumer: Consumer): Promise<void> {
    const { config, log } = this.deps
    let failures = 0
    while (!this.stopping) {
      const free = config.concurrency - this.inFlight.size
      if (free <= 0) {
        await new Promise<void>((r) => (this.wake = r))
        continue
      }
      try {
        const batch = await consumer.fetch({ max_messages: free, expires: 1_000 })
        for await (const m of batch) this.dispatch(m)
        failures = 0
      } catch (err) {
        if (this.stopping) break
        // A broker outage fails every pull: back off (to 2 s) and log the first of a run only.
        if (failures++ === 0) log.warn({ error: (err as Error).message }, 'pulling jobs failed; retrying until the broker answers')
        await sleep(Math.min(2_000, 100 * 2 ** Math.min(failures, 5)))
      }
    }
  }

  private dispatch(m: JsMsg): void {
    if (this.stopping) {
      m.nak()
      return
    }
    const controller = new AbortController()
    this.inFlight.set(m, controller)
    void this.handle(m, controller.signal).finally(() => {
      this.inFlight.delete(m)
      const wake = this.wake
      this.wake = undefined
      wake?.()
    })
  }

  private async handle(m: JsMsg, shutdown: AbortSignal): Promise<void> {
    const { config, log, metrics } = this.deps
    const started = performance.now()
    const deliveries = m.info.deliveryCount
    const kind = m.subject === SUBJECTS.scan ? 'scan' : m.subject === SUBJECTS.reassess ? 'reassess' : undefined
    const seconds = () => (performance.now() - started) / 1000
    const encoding: Encoding = encodingOf(m.headers)
    let jobId: string | undefined
    // The job's own time limit and the shutdown both abort the work through one signal.
    const timeout = AbortSignal.timeout(config.jobTimeoutMs)
    const signal = AbortSignal.any([shutdown, timeout])
    const heartbeat = setInterval(() => m.working(), Math.max(500, Math.floor(config.ackWaitMs / 3)))
    try {
      if (!kind) {
        await this.deps.deadLetter(m, new VigilError('ERR_MESSAGE_INVALID', `no job type is published on ${m.subject}`))
        log.error({ subject: m.subject, seq: m.seq }, 'message on an unknown job subject: dead-lettered')
        settle(m)
        metrics.job('unknown', 'invalid')
        return
      }
      let job: ScanJob | ReassessJob
      let value: unknown
      try {
        value = decodeBytes(m.data, encoding, config.maxMessageBytes)
        job = validate(kind, value)
      } catch (err) {
        const salvaged = salvageJobId(value)
        // A refusal whose ending was lost (the broker went away before the term) is not answered twice.
        if (salvaged !== undefined && (await this.deps.ledger.get(salvaged))) {
          settle(m)
          metrics.job(kind, 'duplicate')
          return
        }
        await this.refuse(m, kind, encoding, salvaged, toErrorRecord(err), deliveries)
        return
      }
      const jobLog = log.child({ jobId: job.id, kind, deliveries })
      if (this.activeIds.has(job.id)) {
        // Same id published twice and delivered together: answer it after the first is recorded.
        m.nak(Math.min(config.retryBaseMs, 1_000))
        return
      }
      jobId = job.id
      this.activeIds.add(job.id)
      if (await this.deps.ledger.get(job.id)) {
        jobLog.info('result already published for this job id; acked without a second one')
        m.ack()
        metrics.job(kind, 'duplicate')
        return
      }
      if (deliveries > config.maxDeliveries) {
        // A job that never got to finish (it crashed the process, say) stops here.
        const error: ErrorRecord = { code: 'ERR_INTERNAL', message: `gave up after ${deliveries - 1} deliveries without an outcome`, retryable: false }
        await this.finishFailed(m, kind, job.id, encoding, error, deliveries, true)
        metrics.job(kind, 'dead_lettered', seconds())
        return
      }
      this.deps.gate.check()
      if (kind === 'scan') await this.scan(m, job as ScanJob, encoding, deliveries, signal)
      else await this.reassess(m, job as ReassessJob, encoding, signal)
      m.ack()
      metrics.job(kind, 'done', seconds())
      jobLog.info({ ms: Math.round(seconds() * 1000) }, 'job done')
    } catch (err) {
      const rec: ErrorRecord = shutdown.aborted ? { code: 'ERR_INTERNAL', message: SHUTDOWN, retryable: true } : timeout.aborted && (!VigilError.is(err) || err.code === 'ERR_INTERNAL') ? { code: 'ERR_TIMEOUT', message: `the job took longer than ${config.jobTimeoutMs} ms`, retryable: true } : toErrorRecord(asStoreError(err) ?? err)
      this.deps.gate.noteFailure(rec)
      await this.fail(m, kind ?? 'unknown', jobId, encoding, rec, deliveries, shutdown.aborted, seconds())
    } finally {
      clearInterval(heartbeat)
      if (jobId !== undefined) this.activeIds.delete(jobId)
    }
  }

  private async scan(m: JsMsg, job: ScanJob, encoding: Encoding, deliveries: number, signal: AbortSignal): Promise<void> {
    const { js, ledger } = this.deps
    // The time limit and the shutdown free the slot even when the work cannot hear them.
    const outcome = await unlessAborted(runScan(this.deps.scan, job, signal), signal).catch((err: unknown) => {
      if (signal.aborted && releaseBlockedReads(job.target) > 0) this.deps.log.warn({ jobId: job.id }, 'abandoned work was blocked reading a FIFO of its target; released it')
      throw err
    })
    // The inventory goes to the system of record before anyone is told the scan is done.
    await recordInventory(js, this.deps.maxPayload(), outcome)
    const result = { ...doneResult(job.id, outcome.target, outcome.inventory, outcome.findings, outcome.fromStore, deliveries), replica: this.deps.config.replicaId }
    // Tell no one before it is on disk: `flushed` also covers lmdb-js's batched async writes (docs/storage.md).
    await storeWrite(this.deps.scan.store.root.flushed)
    await publishScanResult(js, this.deps.maxPayload(), result, encoding)
    await ledger.record(job.id, { status: 'done', digest: outcome.inventory.image.digest, at: new Date().toISOString() })
  }

  private async reassess(m: JsMsg, job: ReassessJob, encoding: Encoding, signal: AbortSignal): Promise<void> {
    const { js, ledger, metrics } = this.deps
    const outcome = await runReassess(job, {
      store: this.deps.scan.store, progress: await ReassessProgressBook.open(js), replicaId: this.deps.config.replicaId, log: this.deps.log, signal,
      announce: async (events, part) => {
        await publishInSlices(events, (event) => publishFindingsChanged(js, event, { jobId: job.id }, encoding, part))
        metrics.findingsEvents += events.length
      },
    })
    await publishReassessResult(js, { v: 1, id: job.id, status: 'done', images: outcome.images, changed: outcome.changed, missing: outcome.missing }, encoding)
    await ledger.record(job.id, { status: 'done', at: new Date().toISOString() })
  }

  /** A message that does not decode or fits no schema: never retried; the original kept in the DLQ. */
  private async refuse(m: JsMsg, kind: 'scan' | 'reassess', encoding: Encoding, jobId: string | undefined, error: ErrorRecord, deliveries: number): Promise<void> {
    const { log, metrics } = this.deps
    if (jobId === undefined) {
      await this.deps.deadLetter(m, error)
      log.error({ subject: m.subject, seq: m.seq, code: error.code, error: error.message }, 'job without a readable id refused: dead-lettered')
      settle(m)
    } else {
      log.warn({ jobId, code: error.code, error: error.message }, 'job refused: answered failed and dead-lettered')
      await this.finishFailed(m, kind, jobId, encoding, error, deliveries, true)
    }
    metrics.job(kind, 'invalid')
  }

  private async fail(m: JsMsg, kind: string, jobId: string | undefined, encoding: Encoding, error: ErrorRecord, deliveries: number, interrupted: boolean, seconds: number): Promise<void> {
    const { config, log, metrics } = this.deps
    const jobLog = log.child({ jobId, kind, deliveries, code: error.code })
    try {
      if (interrupted) {
        m.nak()
        metrics.job(kind, 'interrupted')
        jobLog.info('shutting down: job handed back to the queue')
      } else if (error.retryable && deliveries < config.maxDeliveries) {
        const delay = retryDelayMs(config, deliveries)
        m.nak(delay)
        metrics.job(kind, 'retried')
        jobLog.warn({ error: error.message, retryInMs: delay }, 'job failed with a retryable fault; will retry')
      } else if (jobId !== undefined && (kind === 'scan' || kind === 'reassess')) {
        await this.finishFailed(m, kind, jobId, encoding, error, deliveries, error.retryable)
        metrics.job(kind, error.retryable ? 'dead_lettered' : 'failed', seconds)
        jobLog.warn({ error: error.message }, error.retryable ? 'job failed on its last delivery: dead-lettered' : 'job failed')
      } else {
        await this.deps.deadLetter(m, error)
        settle(m)
        metrics.job(kind, 'dead_lettered', seconds)
      }
    } catch (err) {
      // Could not even report the failure (broker down): hand the job back, nothing is lost.
      jobLog.warn({ error: (err as Error).message }, 'could not publish the outcome; job handed back to the queue')
      m.nak(retryDelayMs(config, deliveries))
    }
  }

  /** Publishes the `failed` result (and the original to the DLQ when asked), records it, terms. */
  private async finishFailed(m: JsMsg, kind: 'scan' | 'reassess', jobId: string, encoding: Encoding, error: ErrorRecord, deliveries: number, deadLetter: boolean): Promise<void> {
    const { js, ledger } = this.deps
    if (deadLetter) await this.deps.deadLetter(m, error)
    if (kind === 'scan') await publishScanResult(js, this.deps.maxPayload(), { ...failedResult(jobId, error, deliveries), replica: this.deps.config.replicaId }, encoding)
    else await publishReassessResult(js, { v: 1, id: jobId, status: 'failed', error: { code: error.code, message: error.message } }, encoding)
    await ledger.record(jobId, { status: 'failed', at: new Date().toISOString() })
    settle(m)
  }

  /**
   * Stop pulling; give in-flight jobs `graceMs` to finish, then abort the rest (they are nak'ed
   * without delay so another replica takes them at once).
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true
    this.wake?.()
    await this.loop?.catch(() => undefined)
    const deadline = Date.now() + graceMs
    while (this.inFlight.size > 0 && Date.now() < deadline) await sleep(50)
    for (const controller of this.inFlight.values()) controller.abort(new VigilError('ERR_INTERNAL', SHUTDOWN))
    while (this.inFlight.size > 0) await sleep(20)
  }
}
