import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { JOBS_CONSUMER, STREAMS } from '../daemon/subjects.js'
import { feedSources } from '../store/advisories.js'
import type { Store } from '../store/env.js'

/**
 * The metrics prom-client gives for free or that are read when scraped: process and Node.js
 * defaults (CPU, memory, handles, GC, event loop), HTTP request durations, how old each feed
 * source's data is, and what waits on the broker. Served after the daemon's own counters
 * (src/http/metrics.ts) on the same /metrics.
 */
export interface PromMetrics {
  readonly registry: Registry
  /** Registers the request-duration hook on an app. */
  instrument(app: FastifyInstance): void
}

// A broker that does not answer must not hold a scrape up: its gauges keep their last values.
const BROKER_TIMEOUT_MS = 2_000

export function createPromMetrics(deps: { store: Store; nc: NatsConnection }): PromMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const requests = new Histogram({
    name: 'vigil_http_request_duration_seconds',
    help: 'HTTP requests, from arrival to the response sent, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })

  new Gauge({
    name: 'vigil_feed_source_age_seconds',
    help: 'Age of the newest record of each feed source (its newest `modified`, else its last import).',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      this.reset()
      const now = Date.now()
      for (const [source, meta] of Object.entries(feedSources(deps.store))) {
        const at = Date.parse(meta.lastModified ?? meta.lastImport)
        if (Number.isFinite(at)) this.set({ source }, Math.max(0, (now - at) / 1000))
      }
    },
  })
  new Gauge({
    name: 'vigil_feed_source_last_import_timestamp_seconds',
    help: 'When each feed source was last imported (Unix time).',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [source, meta] of Object.entries(feedSources(deps.store))) {
        const at = Date.parse(meta.lastImport)
        if (Number.isFinite(at)) this.set({ source }, at / 1000)
      }
    },
  })

  // One broker round trip per scrape, shared by the three gauges read from it.
  let asked: { at: number; answer: Promise<BrokerState | undefined> } | undefined
  const broker = () => {
    if (!asked || Date.now() - asked.at > 1_000) asked = { at: Date.now(), answer: brokerState(deps.nc) }
    return asked.answer
  }
  const fromBroker = (name: string, help: string, pick: (s: BrokerState) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const state = await broker()
        if (state) this.set(pick(state))
      },
    })
  fromBroker('vigil_jobs_pending', `Jobs on ${STREAMS.jobs} not yet delivered to any replica.`, (s) => s.pending)
  fromBroker('vigil_jobs_ack_pending', `Jobs of ${STREAMS.jobs} delivered and not yet acknowledged.`, (s) => s.ackPending)
  fromBroker('vigil_dlq_messages', `Messages in the dead-letter stream ${STREAMS.dlq}.`, (s) => s.dlq)

  return {
    registry,
    instrument(app) {
      app.addHook('onResponse', async (req, reply) => {
        const route = req.routeOptions.url ?? 'unmatched'
        requests.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000)
      })
    },
  }
}

interface BrokerState {
  pending: number
  ackPending: number
  dlq: number
}

async function brokerState(nc: NatsConnection): Promise<BrokerState | undefined> {
  if (nc.isClosed()) return undefined
  try {
    const jsm = await jetstreamManager(nc, { timeout: BROKER_TIMEOUT_MS })
    const [consumer, dead] = await Promise.all([jsm.consumers.info(STREAMS.jobs, JOBS_CONSUMER), jsm.streams.info(STREAMS.dlq)])
    return { pending: consumer.num_pending, ackPending: consumer.num_ack_pending, dlq: dead.state.messages }
  } catch {
    return undefined
  }
}
