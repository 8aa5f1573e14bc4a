import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'

/**
 * The daemon's own counters and gauges, as Prometheus text written by hand: plain fields the job
 * worker and followers bump, with nothing to register. What prom-client does better (process and
 * Node.js defaults, labelled request histograms, values read at scrape time) is in
 * prometheus.ts; /metrics serves both. Format: https://prometheus.io/docs/instrumenting/exposition_formats/
 */
export type JobOutcome = 'done' | 'failed' | 'retried' | 'dead_lettered' | 'duplicate' | 'invalid' | 'interrupted'

// The histogram records whole timer intervals (resolution + delay); the lag is the part beyond it.
const LOOP_RESOLUTION_MS = 10
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

const LAG_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

class Histogram {
  readonly counts: number[]
  sum = 0
  count = 0
  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length).fill(0)
  }
  observe(value: number): void {
    this.sum += value
    this.count++
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]!++
  }
  lines(name: string, labels: string): string[] {
    const sep = labels ? ',' : ''
    const out = this.buckets.map((b, i) => `${name}_bucket{${labels}${sep}le="${b}"} ${this.counts[i]}`)
    out.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${this.count}`, `${name}_sum${labels ? `{${labels}}` : ''} ${this.sum}`, `${name}_count${labels ? `{${labels}}` : ''} ${this.count}`)
    return out
  }
}

export interface GaugeSources {
  inFlight(): number
  concurrency(): number
  poolThreads(): number
  indexedImages(): number
  ready(): boolean
}

export class Metrics {
  private readonly jobs = new Map<string, number>()
  private readonly durations = new Map<string, Histogram>()
  private readonly loop: IntervalHistogram
  /** The same lag as a cumulative histogram, which (unlike percentiles) can be diffed between scrapes. */
  private readonly lag = new Histogram(LAG_BUCKETS)
  private readonly lagTimer: NodeJS.Timeout
  feedDeltas = 0
  findingsEvents = 0
  inventoriesReplicated = 0
  brokerReconnects = 0
  sources: GaugeSources | undefined

  constructor() {
    this.loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
    this.loop.enable()
    let expected = performance.now() + LOOP_RESOLUTION_MS
    this.lagTimer = setInterval(() => {
      const now = performance.now()
      this.lag.observe(Math.max(0, now - expected) / 1000)
      expected = now + LOOP_RESOLUTION_MS
    }, LOOP_RESOLUTION_MS).unref()
  }

  job(kind: string, outcome: JobOutcome, seconds?: number): void {
    const key = `${kind}\0${outcome}`
    this.jobs.set(key, (this.jobs.get(key) ?? 0) + 1)
    if (seconds !== undefined && (outcome === 'done' || outcome === 'failed' || outcome === 'dead_lettered')) {
      let h = this.durations.get(kind)
      if (!h) this.durations.set(kind, (h = new Histogram(DURATION_BUCKETS)))
      h.observe(seconds)
    }
  }

  jobCount(kind: string, outcome: JobOutcome): number {
    return this.jobs.get(`${kind}\0${outcome}`) ?? 0
  }

  /** Event-loop delay percentile in milliseconds since the last reset. */
  loopDelayMs(percentile: number): number {
    return Math.max(0, this.loop.percentile(percentile) / 1e6 - LOOP_RESOLUTION_MS)
  }

  resetLoopDelay(): void {
    this.loop.reset()
  }

  close(): void {
    this.loop.disable()
    clearInterval(this.lagTimer)
  }

  render(): string {
    const out: string[] = []
    const metric = (name: string, type: string, help: string, lines: string[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines)
    }
    metric('vigil_jobs_total', 'counter', 'Jobs handled, by kind and outcome.', [...this.jobs].map(([k, v]) => {
      const [kind, outcome] = k.split('\0')
      return `vigil_jobs_total{kind="${kind}",outcome="${outcome}"} ${v}`
    }))
    const hist: string[] = []
    for (const [kind, h] of this.durations) hist.push(...h.lines('vigil_job_duration_seconds', `kind="${kind}"`))
    metric('vigil_job_duration_seconds', 'histogram', 'Time from a job\'s delivery to its ack or term.', hist)
    metric('vigil_feed_deltas_total', 'counter', 'Feed deltas applied.', [`vigil_feed_deltas_total ${this.feedDeltas}`])
    metric('vigil_findings_changed_total', 'counter', 'FindingsChanged events published.', [`vigil_findings_changed_total ${this.findingsEvents}`])
    metric('vigil_inventories_replicated_total', 'counter', 'Inventories indexed from VIGIL_INVENTORY (scanned by any replica, or rebuilt).', [`vigil_inventories_replicated_total ${this.inventoriesReplicated}`])
    metric('vigil_broker_reconnects_total', 'counter', 'Reconnections to NATS.', [`vigil_broker_reconnects_total ${this.brokerReconnects}`])
    const s = this.sources
    if (s) {
      const inFlight = s.inFlight()
      metric('vigil_jobs_in_flight', 'gauge', 'Jobs being worked on now.', [`vigil_jobs_in_flight ${inFlight}`])
      metric('vigil_pool_utilisation', 'gauge', 'In-flight jobs over the concurrency limit (0..1).', [`vigil_pool_utilisation ${(inFlight / Math.max(1, s.concurrency())).toFixed(4)}`])
      metric('vigil_pool_threads', 'gauge', 'Layer worker threads.', [`vigil_pool_threads ${s.poolThreads()}`])
      metric('vigil_index_images', 'gauge', 'Images in this replica\'s index.', [`vigil_index_images ${s.indexedImages()}`])
      metric('vigil_ready', 'gauge', '1 when the replica serves (connected, store open, rebuild done).', [`vigil_ready ${s.ready() ? 1 : 0}`])
    }
    const lag = (p: number) => (this.loop.count > 0 ? this.loopDelayMs(p) / 1000 : 0)
    metric('vigil_event_loop_lag_seconds', 'gauge', 'Event-loop delay percentiles (perf_hooks monitorEventLoopDelay).', [
      `vigil_event_loop_lag_seconds{quantile="0.5"} ${lag(50)}`,
      `vigil_event_loop_lag_seconds{quantile="0.99"} ${lag(99)}`,
      `vigil_event_loop_lag_seconds{quantile="1"} ${this.loop.count > 0 ? Math.max(0, this.loop.max / 1e6 - LOOP_RESOLUTION_MS) / 1000 : 0}`,
    ])
    metric('vigil_event_loop_lag_histogram_seconds', 'histogram', `How late a ${LOOP_RESOLUTION_MS} ms timer fires: event-loop lag samples.`, this.lag.lines('vigil_event_loop_lag_histogram_seconds', ''))
    return out.join('\n') + '\n'
  }
}
