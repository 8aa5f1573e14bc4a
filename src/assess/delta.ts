import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { bumpMeta, type Store } from '../store/env.js'
import type { Finding } from '../match/types.js'
import { imagePackages, readImage, variantKeys, variantRecord } from '../store/images.js'
import { packagesUnder, readPostingKey } from '../store/postings.js'
import { FindingsReader, FindingsWriter, sameFinding, variantsWithFinding } from '../store/findings.js'
import { emit, type Change, type VariantDiff } from './emit.js'
import { defaultMatcher, type Matcher } from './matcher.js'
import { readCache } from '../store/advisories.js'
import { settleDeparted } from '../store/advisory-ids.js'

/**
 * Re-assessment after a feed delta. The work (package keys, or CVEs for EPSS/KEV updates) is
 * queued in `meta` before anything else happens; each batch commits its findings together with
 * the queue cursor, so after a crash `resumePending` carries on from the first uncommitted batch
 * and ends exactly where an uninterrupted run would (re-matching is idempotent).
 *
 * Per batch: the variants under the batch's keys are re-matched for the delta's advisories (once
 * per variant, however many images hold it), each variant's findings are diffed, the diffs are
 * applied to the finding groups in one transaction, and after the commit assess/emit.ts sends one
 * FindingsChanged per image and batch.
 */
export interface ChangedFinding {
  before: Finding
  after: Finding
}

export interface FindingsChanged {
  digest: string
  added: Finding[]
  removed: Finding[]
  changed: ChangedFinding[]
  /** Advisory ids (Finding.id) behind the change. */
  causes: string[]
}

export interface ReassessOptions {
  matcher?: Matcher
  onChange?: (event: FindingsChanged) => void
  /** Keys (or CVEs) per transaction. */
  batchSize?: number
  /** Test hook: called after each committed batch. */
  onBatch?: (progress: { seq: number; next: number; total: number }) => void
}

export interface ReassessSummary {
  works: number
  items: number
  variants: number
  changedVariants: number
  events: number
  batches: number
}

/** What a feed import reports (match/index.ts FeedDelta, narrowed). */
export interface DeltaInput {
  packageKeys: readonly string[]
  ids?: readonly string[]
}

interface Work {
  seq: number
  kind: 'keys' | 'cves'
  items: string[]
  next: number
  causes: string[]
  queuedAt: string
}

const QUEUE = 'assess:queue:'
const SEQ = 'assess:seq'
const queueKey = (seq: number) => `${QUEUE}${String(seq).padStart(12, '0')}`
/**
 * How far a stored work has got, kept apart from the work itself: the work holds every item (a
 * 250,000-CVE EPSS update), so writing it again after each batch made a long work quadratic.
 */
const PROGRESS = 'assess:progress:'
const progressKey = (seq: number) => `${PROGRESS}${String(seq).padStart(12, '0')}`

/** A stored work with the progress its last committed batch recorded. */
function loadWork(store: Store, value: unknown): Work {
  const work = value as Work
  const next = store.meta.get(progressKey(work.seq)) as number | undefined
  return next !== undefined && next > work.next ? { ...work, next } : work
}

/** Commits a batch's progress: the whole work once (its first write), then only the cursor. */
function saveProgress(store: Store, work: Work, next: number): void {
  if (work.seq === 0) storeWork(store, Object.assign(work, { next }))
  else store.meta.putSync(progressKey(work.seq), next)
}

function finishWork(store: Store, work: Work): void {
  if (work.seq === 0) return
  store.meta.removeSync(queueKey(work.seq))
  store.meta.removeSync(progressKey(work.seq))
}

function newWork(kind: Work['kind'], items: readonly string[], causes: readonly string[]): Work {
  // seq 0 = not stored yet; a stored work gets its seq from the counter when first written.
  return { seq: 0, kind, items: [...new Set(items)].sort(), next: 0, causes: [...new Set(causes)], queuedAt: new Date().toISOString() }
}

function storeWork(store: Store, work: Work): void {
  if (work.seq === 0) {
    work.seq = bumpMeta(store, SEQ)
  }
  store.meta.putSync(queueKey(work.seq), work)
}

/**
 * Records a delta as pending work. An importer calls it inside the transaction that changed the
 * advisories, which closes the window between import and re-assessment: after a crash anywhere,
 * `resumePending` finds the work. Works inside or outside a transaction (lmdb-js nests them).
 */
export function queueWork(store: Store, kind: Work['kind'], items: readonly string[], causes: readonly string[] = []): void {
  if (items.length === 0) return
  store.root.transactionSync(() => storeWork(store, newWork(kind, items, causes)))
}

export function pendingWork(store: Store): { seq: number; kind: string; items: number; next: number }[] {
  return [...store.meta.getRange({ start: QUEUE, end: `${QUEUE}~` })].map(({ value }) => {
    const w = loadWork(store, value)
    return { seq: w.seq, kind: w.kind, items: w.items.length, next: w.next }
  })
}

/**
 * Re-assesses everything a feed delta touched (after any work left over from a crash). The delta
 * is written down only together with the first batch's findings, so a delta that fits one batch
 * costs one commit; the caller keeps its own record of the delta until this returns (the daemon
 * acks the feed message only then, the CLI's import queues it in the import's own transaction).
 */
export function applyDelta(store: Store, delta: DeltaInput, opts: ReassessOptions = {}): ReassessSummary {
  const summary = resumePending(store, opts)
  if (delta.packageKeys.length > 0) {
    runWork(store, newWork('keys', delta.packageKeys, delta.ids ?? []), opts, summary)
    summary.works++
  }
  return summary
}

/** Re-scores only the variants carrying a CVE whose EPSS or KEV value changed. */
export function rescoreExploit(store: Store, changedCves: readonly string[], opts: ReassessOptions = {}): ReassessSummary {
  const summary = resumePending(store, opts)
  if (changedCves.length > 0) {
    runWork(store, newWork('cves', changedCves, changedCves), opts, summary)
    summary.works++
  }
  return summary
}

/** Runs all queued work to the end, oldest first. */
export function resumePending(store: Store, opts: ReassessOptions = {}): ReassessSummary {
  const summary: ReassessSummary = { works: 0, items: 0, variants: 0, changedVariants: 0, events: 0, batches: 0 }
  for (;;) {
    const first = [...store.meta.getRange({ start: QUEUE, end: `${QUEUE}~`, limit: 1 })][0]
    if (!first) return summary
    runWork(store, loadWork(store, first.value), opts, summary)
    summary.works++
  }
}

function runWork(store: Store, work: Work, opts: ReassessOptions, summary: ReassessSummary): void {
  for (const _ of workBatches(store, work, opts, summary, true)) {
    // each batch has committed; nothing to do between them here
  }
}

/**
 * A work's batches, one per step: each step re-matches, commits and emits one batch. `durable`
 * work keeps its cursor in the store's queue (a crash resumes it at start); other work keeps it
 * in `work.next` only and its caller saves it where it wants.
 */
function* workBatches(store: Store, work: Work, opts: ReassessOptions, summary: ReassessSummary, durable: boolean): Generator<void> {
  const matcher = opts.matcher ?? defaultMatcher
  const batchSize = Math.max(1, opts.batchSize ?? 256)
  const seen = new Set<number>()
  const causes = work.causes.length > 0 ? new Set(work.causes) : undefined
  // With the delta's advisory ids known, only what those records can have changed is re-matched
  // (match/changes.ts); an EPSS/KEV update or a delta without ids re-matches whole variants.
  const partial = work.kind === 'keys' && causes !== undefined ? matcher.matchChanged : undefined
  summary.items += work.items.length - work.next
  const interned = new Map<string, string[]>()
  for (let start = work.next; start < work.items.length || start === 0; start += batchSize) {
    const end = Math.min(work.items.length, start + batchSize)
    const changes: Change[] = []
    // One generation read per batch: matching reads the advisories through it, and the stored
    // findings are read through one reader (each advisory's groups decoded once).
    const cache = readCache(store)
    const stored = new FindingsReader(store, cache)
    const batch = work.items.slice(start, end)
    for (const item of batch) {
      // A key's postings, read once: its variants now, their packages for the events later.
      const under = work.kind === 'keys' ? packagesUnder(store, item) : undefined
      const ids = under ? under.keys() : variantsWithFinding(store, item)
      for (const variant of ids) {
        if (seen.has(variant)) continue
        seen.add(variant)
        const record = variantRecord(store, variant)
        if (!record) continue
        let before: Finding[]
        let after: Finding[]
        if (partial) {
          // The variant's old findings for the delta's ids: a few ids are looked up in their
          // groups; a large delta reads the variant's findings instead.
          let oldPicks: Finding[]
          if (causes!.size > 16) oldPicks = stored.ofVariant(variant, causes)
          else {
            oldPicks = []
            for (const id of causes!) {
              const f = stored.finding(variant, id, record)
              if (f) oldPicks.push(f)
            }
          }
          const found = partial(store, record.pkg, record.os, causes!, oldPicks, cache)
          if (found.ids.size === 0) continue
          before = oldPicks.slice()
          for (const id of found.ids) {
            if (causes!.has(id)) continue
            const f = stored.finding(variant, id, record)
            if (f) before.push(f)
          }
          after = found.findings
        } else {
          before = stored.ofVariant(variant)
          after = matcher.matchPackage(store, record.pkg, record.os)
        }
        summary.variants++
        const diff = diffFindings(before, after, causes, interned)
        if (diff) changes.push({ variant, record, diff, packages: under?.get(variant) })
      }
    }
    const last = end >= work.items.length
    store.root.transactionSync(() => {
      const writer = new FindingsWriter(store)
      for (const c of changes) writer.apply(c.variant, c.diff)
      writer.flush()
      // The batch's keys were re-matched for these causes: findings of departed ids are gone.
      if (work.kind === 'keys') for (const key of batch) settleDeparted(store, key, causes)
      if (last) finishWork(store, work)
      else if (durable) saveProgress(store, work, end)
      else work.next = end
    })
    summary.batches++
    summary.changedVariants += changes.length
    if (opts.onChange && changes.length > 0) summary.events += emit(store, changes, opts.onChange)
    opts.onBatch?.({ seq: work.seq, next: end, total: work.items.length })
    if (last) return
    yield
  }
}

/** Index seeks (or images read) between turns of the event loop while a re-assessment lists its keys. */
const LIST_SLICE = 2_000

/**
 * The store keys a re-assessment covers, sorted: every key with postings (one index seek per
 * key, not a walk over every posting), or the keys of the given images' variants. Images not
 * indexed are returned as `missing`. A fleet has hundreds of thousands of keys: the listing
 * yields to the event loop as it goes.
 */
export async function reassessmentKeys(store: Store, digests?: readonly string[]): Promise<{ keys: string[]; images: number; missing: string[] }> {
  if (!digests) {
    const keys: string[] = []
    let start: (string | number)[] = []
    for (;;) {
      const next = [...store.postings.getKeys({ start, limit: 1 })][0]
      if (next === undefined) break
      const key = readPostingKey(next)[0]
      keys.push(key)
      // Past every [key, variant, package] of this key.
      start = [key, 0x100000000]
      if (keys.length % LIST_SLICE === 0) await yieldToLoop()
    }
    // JavaScript's order, not LMDB's: the caller's cursor compares keys with `>`.
    return { keys: keys.sort(), images: (store.images.getStats() as { entryCount: number }).entryCount, missing: [] }
  }
  const keys = new Set<string>()
  const missing: string[] = []
  let images = 0
  let read = 0
  for (const digest of new Set(digests)) {
    if (++read % (LIST_SLICE / 10) === 0) await yieldToLoop()
    const rec = readImage(store, digest)
    if (!rec) {
      missing.push(digest)
      continue
    }
    images++
    const variants = new Set(imagePackages(store, rec).map((p) => p.variant))
    for (const v of variants) for (const k of variantKeys(store, v) ?? []) keys.add(k)
  }
  return { keys: [...keys].sort(), images, missing }
}

export interface FullReassessOptions extends ReassessOptions {
  signal?: AbortSignal
  /**
   * Awaited after every committed batch, with the last key it covered: where a caller publishes
   * the batch's events and saves its cursor. The event loop turns between batches.
   */
  afterBatch?: (progress: { lastKey: string; done: number; total: number }) => Promise<void>
}

/**
 * Re-matches every variant filed under `keys` (sorted store keys) against the advisory data as
 * it is now, without a delta to narrow it: the re-assess job's engine. Unlike a feed delta's work
 * it is not put in the store's queue (a feed delta would then run it to the end in one go); it
 * runs in batches with a turn of the event loop between them, so a long re-assessment never holds
 * up probes, jobs or heartbeats, and its caller keeps the cursor (`afterBatch`).
 */
export async function reassessKeys(store: Store, keys: readonly string[], opts: FullReassessOptions = {}): Promise<ReassessSummary> {
  const summary: ReassessSummary = { works: 0, items: 0, variants: 0, changedVariants: 0, events: 0, batches: 0 }
  if (keys.length === 0) return summary
  const work: Work = { seq: 0, kind: 'keys', items: [...keys], next: 0, causes: [], queuedAt: new Date().toISOString() }
  for (const _ of workBatches(store, work, opts, summary, false)) {
    await opts.afterBatch?.({ lastKey: work.items[work.next - 1]!, done: work.next, total: work.items.length })
    await yieldToLoop()
    opts.signal?.throwIfAborted()
  }
  await opts.afterBatch?.({ lastKey: work.items[work.items.length - 1]!, done: work.items.length, total: work.items.length })
  summary.works = 1
  return summary
}

/**
 * Undefined when nothing differs. Findings of one package are unique by id (matchPackage), and the
 * store keeps them by id, so order does not count. With `causes` (the delta's advisory ids, or
 * the CVEs of an exploit update), only findings naming a cause are compared field by field: the
 * others come from records the delta did not touch, and matching is a pure function of the
 * record, so they can only appear or vanish, which the id comparison sees. Popular packages
 * carry hundreds of findings; this keeps a delta cheap.
 * `interned`: one delta's variants mostly change for the same ids; sharing one `causes` array
 * between them keeps a large delta's garbage down and lets merges see they are the same.
 */
export function diffFindings(before: readonly Finding[], after: readonly Finding[], causes?: ReadonlySet<string>, interned?: Map<string, string[]>): VariantDiff | undefined {
  // A delta's before lists hold a finding or two: a scan beats building a map, and a bit mask
  // beats a typed array (this runs once per variant of the delta, hundreds of times).
  const byId = before.length > 8 ? new Map(before.map((f, i) => [f.id, i])) : undefined
  const keptList = before.length > 31 ? new Uint8Array(before.length) : undefined
  let keptBits = 0
  let added: Finding[] | undefined
  let changed: ChangedFinding[] | undefined
  for (const f of after) {
    let at = -1
    if (byId) at = byId.get(f.id) ?? -1
    else {
      for (let i = 0; i < before.length; i++) {
        if (before[i]!.id === f.id) {
          at = i
          break
        }
      }
    }
    if (at < 0) {
      ;(added ??= []).push(f)
      continue
    }
    if (keptList) keptList[at] = 1
    else keptBits |= 1 << at
    const prior = before[at]!
    if (suspect(prior, f, causes) && !sameFinding(prior, f)) (changed ??= []).push({ before: prior, after: f })
  }
  let removed: Finding[] | undefined
  for (let i = 0; i < before.length; i++) {
    const kept = keptList ? keptList[i] === 1 : (keptBits & (1 << i)) !== 0
    if (!kept) (removed ??= []).push(before[i]!)
  }
  if (!added && !removed && !changed) return undefined
  return withCauses(added ?? [], removed ?? [], changed ?? [], interned)
}

/** Whether a finding present before and after can differ: it names a cause (or no causes given). */
function suspect(prior: Finding, f: Finding, causes: ReadonlySet<string> | undefined): boolean {
  if (!causes || causes.has(f.id)) return true
  for (const a of f.aliases) if (causes.has(a)) return true
  for (const a of prior.aliases) if (causes.has(a)) return true
  return false
}

function withCauses(added: Finding[], removed: Finding[], changed: ChangedFinding[], interned: Map<string, string[]> | undefined): VariantDiff {
  // Ids are unique within each list, and the three lists are disjoint by id.
  const ids = [...added.map((f) => f.id), ...removed.map((f) => f.id), ...changed.map((c) => c.after.id)].sort()
  if (!interned) return { added, removed, changed, causes: ids }
  const key = ids.join('\n')
  let shared = interned.get(key)
  if (!shared) interned.set(key, (shared = ids))
  return { added, removed, changed, causes: shared }
}
