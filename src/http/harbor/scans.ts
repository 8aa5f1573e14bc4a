import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { nanos } from '@nats-io/transport-node'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { decodeBytes, encodingOf } from '../../daemon/messages.js'
import { STREAMS, SUBJECTS } from '../../daemon/subjects.js'
import type { Capabilities, HarborArtifact } from './request.js'

/**
 * Scan request id → state, in a JetStream KV bucket rather than in memory: an adapter restart
 * keeps every id Harbor is polling, and any number of adapter replicas behind one load balancer
 * see the same state. The bucket holds no secret (the registry authorization goes only into the
 * encrypted job). The results follower (one durable consumer on VIGIL_RESULTS shared by all
 * adapter replicas) moves a request from queued to done or failed; results that arrive while no
 * adapter runs wait in the stream.
 */
export const SCANS_BUCKET = 'vigil-harbor-scans'
export const RESULTS_CONSUMER = 'vigil-harbor-results'
// Harbor polls for up to ~30 minutes (reference §6.3); a day leaves room for a long queue.
export const SCAN_TTL_MS = 24 * 3_600_000

export type ScanStatus = 'queued' | 'running' | 'done' | 'failed'

export interface ScanState {
  v: 1
  id: string
  status: ScanStatus
  /** The manifest digest Harbor asked for; a result may name the digest actually indexed. */
  digest: string
  artifact: HarborArtifact
  capabilities: Capabilities
  /** `index`: answered at request time from an earlier scan (no job, no registry access). */
  source: 'index' | 'scan'
  error?: string
  createdAt: string
  updatedAt: string
}

/** KV keys allow `[-/_=.a-zA-Z0-9]`; ids we hand out are UUIDs, anything else is unknown. */
export const isScanId = (id: string): boolean => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)

export class ScanBook {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<ScanBook> {
    return new ScanBook(await new Kvm(nc).create(SCANS_BUCKET, { history: 1, ttl: SCAN_TTL_MS }))
  }

  async create(state: ScanState): Promise<void> {
    await this.kv.create(state.id, JSON.stringify(state))
  }

  /**
   * `create`, where an entry already there is success: an outbox entry is sent again after a
   * crash between its write and its removal, and the state then may have moved on (done).
   */
  async createIfAbsent(state: ScanState): Promise<void> {
    try {
      await this.create(state)
    } catch (err) {
      if (await this.get(state.id)) return
      throw err
    }
  }

  async get(id: string): Promise<ScanState | undefined> {
    if (!isScanId(id)) return undefined
    const entry = await this.kv.get(id)
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined
    try {
      return entry.json<ScanState>()
    } catch {
      return undefined
    }
  }

  /** Applies a job result. Unknown ids (jobs other producers sent) are ignored. */
  async settle(id: string, patch: Pick<ScanState, 'status'> & Partial<Pick<ScanState, 'digest' | 'error'>>): Promise<boolean> {
    const current = await this.get(id)
    if (!current) return false
    if (current.status === 'done' || current.status === 'failed') return true
    await this.kv.put(id, JSON.stringify({ ...current, ...patch, updatedAt: new Date().toISOString() }))
    return true
  }
}

export interface ResultsFollower {
  stop(): Promise<void>
}

interface ResultPayload {
  id?: unknown
  status?: unknown
  digest?: unknown
  error?: { code?: unknown; message?: unknown }
}

/**
 * Follows `vigil.results.scan` with a durable consumer. It waits for the daemon to create
 * VIGIL_RESULTS (an adapter may start first) and keeps retrying after broker trouble.
 */
export function followResults(nc: NatsConnection, book: ScanBook, log: Logger, maxBytes = 64 * 1024 * 1024): ResultsFollower {
  let stopped = false
  let messages: ConsumerMessages | undefined
  let wake: (() => void) | undefined
  const pause = (ms: number) => new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    wake = () => {
      clearTimeout(timer)
      resolve()
    }
  })

  const run = async () => {
    while (!stopped) {
      try {
        const jsm = await jetstreamManager(nc)
        await jsm.streams.info(STREAMS.results)
        try {
          await jsm.consumers.info(STREAMS.results, RESULTS_CONSUMER)
        } catch {
          await jsm.consumers.add(STREAMS.results, {
            durable_name: RESULTS_CONSUMER,
            filter_subject: SUBJECTS.scanResult,
            ack_policy: AckPolicy.Explicit,
            ack_wait: nanos(30_000),
            deliver_policy: DeliverPolicy.New,
          })
        }
        const consumer = await jetstream(nc).consumers.get(STREAMS.results, RESULTS_CONSUMER)
        messages = await consumer.consume({ max_messages: 256 })
        // stop() may have run while the consumer was being made: it closed nothing then, and the
        // loop below would wait on the new consumer for ever.
        if (stopped) {
          await messages.close().catch(() => undefined)
          break
        }
        for await (const msg of messages) {
          try {
            const payload = decodeBytes(msg.data, encodingOf(msg.headers), maxBytes) as ResultPayload
            const id = msg.headers?.get('Vigil-Job-Id') || (typeof payload.id === 'string' ? payload.id : '')
            if (id && isScanId(id)) await book.settle(id, patchOf(payload))
            msg.ack()
          } catch (err) {
            // A result we cannot read is not retried forever: it is logged and acknowledged.
            log.warn({ err: (err as Error).message, seq: msg.seq }, 'harbor adapter: unreadable scan result skipped')
            msg.ack()
          }
        }
      } catch (err) {
        if (stopped) break
        log.debug({ err: (err as Error).message }, 'harbor adapter: waiting for VIGIL_RESULTS')
        await pause(1_000)
      }
    }
  }
  const done = run()
  return {
    async stop() {
      stopped = true
      wake?.()
      await messages?.close().catch(() => undefined)
      await done
    },
  }
}

function patchOf(p: ResultPayload): Pick<ScanState, 'status'> & Partial<Pick<ScanState, 'digest' | 'error'>> {
  const digest = typeof p.digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(p.digest) ? p.digest : undefined
  if (p.status === 'done') return { status: 'done', ...(digest ? { digest } : {}) }
  if (p.status === 'running') return { status: 'running' }
  const code = typeof p.error?.code === 'string' ? p.error.code : 'ERR_INTERNAL'
  const message = typeof p.error?.message === 'string' ? p.error.message : 'the scan failed'
  return { status: 'failed', error: `${code}: ${message}` }
}
