import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { FindingsChanged } from '../assess/index.js'
import { readJsonEntry } from './ledger.js'
import type { Logger } from './logger.js'
import type { Encoding } from './messages.js'
import { publishInSlices } from './reassess.js'
import { publishFindingsChanged } from './results.js'
import { ANNOUNCER_BUCKET } from './subjects.js'

/** How long a lease holds without renewal, and how often it is renewed (or claimed). */
export const LEASE_MS = 10_000
const RENEW_MS = 2_000
/**
 * Events a follower keeps, at most, for deltas it applied silently and the announcer has not
 * marked yet (normally a couple of seconds' worth), so that a successor can announce them.
 */
const HELD_EVENTS = 50_000

interface Lease {
  replica: string
  /** Epoch ms; past it, any replica may take the lease over. */
  until: number
}

interface Held {
  seq: number
  encoding: Encoding
  events: FindingsChanged[]
}

/**
 * One replica announces the FindingsChanged events of feed deltas; the others apply every delta
 * silently (docs/messages.md "One event per change"). The announcer is whoever holds the lease
 * in the `vigil-announcer` KV bucket (key `lease`): it renews it every 2 s, and any replica takes
 * it over by compare-and-set once it is 10 s past due. The key `announced` says up to which delta
 * (stream sequence) events went out; a replica that takes the lease announces, from the events
 * it kept, every delta after that mark, so a crash of the announcer loses no event (a delta
 * announced twice is dropped by VIGIL_RESULTS's duplicate window, `Nats-Msg-Id` per delta and
 * image; a live subscriber can then see it twice, only around a takeover).
 */
export class FeedAnnouncer {
  private revision = 0
  private until = 0
  private timer: NodeJS.Timeout | undefined
  private readonly held: Held[] = []
  private heldEvents = 0
  /** Announcements go out one delta after another, in stream order. */
  private queue: Promise<void> = Promise.resolve()
  private stopped = false
  /** The highest delta sequence known to be announced (by this replica or, at takeover, any). */
  private mark = 0

  private constructor(private readonly js: JetStreamClient, private readonly kv: KV, private readonly replicaId: string, private readonly log: Logger) {}

  static async open(js: JetStreamClient, replicaId: string, log: Logger): Promise<FeedAnnouncer> {
    return new FeedAnnouncer(js, await new Kvm(js).open(ANNOUNCER_BUCKET), replicaId, log)
  }

  /** Whether this replica holds the lease now (with a second of margin before it runs out). */
  leads(): boolean {
    return !this.stopped && Date.now() < this.until - 1_000
  }

  start(): void {
    const tick = () => {
      void this.claim().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, RENEW_MS)
      })
    }
    tick()
  }

  /**
   * A delta this replica applied (once caught up): the leader publishes its events; the others
   * keep them in case they take over before the leader announced it.
   */
  applied(seq: number, events: FindingsChanged[], encoding: Encoding): void {
    this.hold({ seq, encoding, events })
    if (this.leads()) void this.enqueue(() => this.announceHeld())
  }

  private hold(held: Held): void {
    this.held.push(held)
    this.heldEvents += held.events.length
    while (this.heldEvents > HELD_EVENTS && this.held.length > 1) this.heldEvents -= this.held.shift()!.events.length
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.queue.then(step)
    this.queue = next.catch((err: unknown) => {
      // Kept deltas stay kept: the next renewal (2 s) tries them again.
      this.log.warn({ error: (err as Error).message }, 'could not announce FindingsChanged; will retry')
    })
    return this.queue
  }

  /**
   * Publishes every kept delta past the mark, oldest first (acks pipelined), moving the mark in
   * the bucket after each; a delta at or below the mark was announced already and is dropped.
   */
  private async announceHeld(): Promise<void> {
    while (this.held.length > 0 && this.leads()) {
      const d = this.held[0]!
      if (d.seq > this.mark) {
        await publishInSlices(d.events, (event) => publishFindingsChanged(this.js, event, { feedSeq: d.seq }, d.encoding))
        await this.kv.put('announced', JSON.stringify({ seq: d.seq, replica: this.replicaId }))
        this.mark = d.seq
      }
      this.held.shift()
      this.heldEvents -= d.events.length
    }
  }

  private async claim(): Promise<void> {
    const lease: Lease = { replica: this.replicaId, until: Date.now() + LEASE_MS }
    const wasLeading = this.leads()
    try {
      const entry = await this.kv.get('lease')
      const current = entry && entry.operation === 'PUT' && entry.length > 0 ? entry.json<Lease>() : undefined
      if (!current) this.revision = await this.kv.create('lease', JSON.stringify(lease))
      else if (current.replica === this.replicaId || Date.now() > current.until) this.revision = await this.kv.update('lease', JSON.stringify(lease), entry!.revision)
      else {
        this.until = 0
        await this.prune()
        return
      }
      this.until = lease.until
    } catch (err) {
      // Another replica won the compare-and-set, or the broker is away: not the announcer now.
      this.until = 0
      this.log.debug({ error: (err as Error).message }, 'feed announcer lease not held')
      return
    }
    // Not awaited: a long announcement must not hold up the next renewal, or the lease would lapse.
    if (!wasLeading) void this.enqueue(() => this.takeOver())
    else if (this.held.length > 0) void this.enqueue(() => this.announceHeld())
  }

  /** Drops kept deltas the announcer has marked as announced: a follower keeps only seconds' worth. */
  private async prune(): Promise<void> {
    this.mark = Math.max(this.mark, (await readJsonEntry<{ seq: number }>(this.kv, 'announced'))?.seq ?? 0)
    while (this.held.length > 0 && this.held[0]!.seq <= this.mark) this.heldEvents -= this.held.shift()!.events.length
  }

  /** Reads how far the previous announcer got, then announces the kept deltas past that. */
  private async takeOver(): Promise<void> {
    this.mark = Math.max(this.mark, (await readJsonEntry<{ seq: number }>(this.kv, 'announced'))?.seq ?? 0)
    const due = this.held.filter((d) => d.seq > this.mark).length
    this.log.info({ replica: this.replicaId, announcedUpTo: this.mark, due }, 'this replica now announces FindingsChanged for feed deltas')
    const oldest = this.held[0]?.seq
    if (oldest !== undefined && this.mark > 0 && oldest > this.mark + 1) {
      this.log.warn({ from: this.mark + 1, to: oldest - 1 }, 'deltas the previous announcer may not have announced are no longer kept here; their events are not re-sent')
    }
    await this.announceHeld()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.queue
    // Hand over at once rather than after the lease runs out.
    if (this.revision > 0 && this.until > Date.now()) await this.kv.update('lease', JSON.stringify({ replica: this.replicaId, until: 0 }), this.revision).catch(() => undefined)
  }
}
