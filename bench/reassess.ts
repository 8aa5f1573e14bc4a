/**
 * `npm run bench:reassess -- --images N [--advisories 1000] [--warmup 50] [--sample 2000] [--data DIR] [--keep-ingest-heap]`
 *
 * Builds a fleet of N images from real inventories (corpus dpkg status files, pkgdb fixtures,
 * real lockfile package lists, drifted to real advisory versions), indexes it, then measures
 * re-assessment after real feed deltas imported through importFeeds:
 *   oneAdvisoryP50Ms / P99Ms  applyDelta for one changed real advisory that hits the fleet, over
 *                             --advisories (1,000) deltas: the p99 of 250 was their third slowest,
 *                             which one slow second of this VM could decide; of 1,000 it is the
 *                             tenth
 *   thousandAdvisoriesMs      applyDelta for 1,000 changed real advisories
 *   fullRematchMs             re-matching every stored inventory (read + matchInventory); above
 *                             --full-limit images it is estimated from a random sample and the
 *                             JSON says so (fullRematchEstimated, fullRematchSample)
 * Import time is not part of any delta figure; event emission (onChange) is. Before the deltas the
 * bench collects the ingest's garbage (see below), warms the index as the daemon does at start
 * (warmIndexMs, timed on its own), sets the
 * daemon's V8 setting (assess/gc.ts), and applies --warmup one-advisory deltas untimed (default
 * 50, drawn like the timed ones): a daemon's delta code has long been compiled by the optimizing
 * JIT, a fresh process compiles it during its first deltas (~100 ms once), and again for each
 * kind of delta it meets first. With 20, the first record on the package deployed at 644
 * versions that reached 40,000 images was the 4th timed delta and took 7–15 ms in five traced runs
 * (4–6 ms for the same kind later in the run); with 50 it falls in the warm-up, where it took 12.8 ms.
 * The timed phases stand for a daemon started on a store that scans filled earlier. The ingest
 * here is instead ~80 s of bulk indexing in this very process, in which V8 ran no major
 * collection: it leaves ~1.4 GB of dead objects with the live state (the id → digest table, the
 * record caches) strewn among them, a heap no such daemon has. So the bench collects once after
 * the ingest (node --expose-gc, as the npm script runs it; heapBeforeDeltasMB says what was
 * left); --keep-ingest-heap skips that, to measure the deltas on the ingest's heap.
 * VIGIL_BENCH_TRACE=1 prints each one-advisory delta's time and summary to stderr, and after the
 * timed deltas the garbage collections that ran inside any of them (and every delta over 8 ms).
 * The last line printed is one JSON object; it is also written to bench/results/reassess-<N>.json.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { PerformanceObserver, constants as perf } from 'node:perf_hooks'
import { openStore } from '../src/store/env.js'
import { importFeeds } from '../src/match/index.js'
import { matchInventory } from '../src/match/matcher.js'
import { applyDelta, ensureSchema, indexImages, readInventory, warmIndex } from '../src/assess/index.js'
import { collectYoungBetweenDeltas } from '../src/assess/gc.js'
import { postingCount } from '../src/store/postings.js'
import { variantsWithFinding } from '../src/store/findings.js'
import { fleet, loadPools, mutateRecord, pick, seeded, type OsvRecord } from './reassess-fleet.js'
import { corpusBases } from './reassess-corpus.js'

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '10000' },
    advisories: { type: 'string', default: '1000' },
    sample: { type: 'string', default: '2000' },
    'full-limit': { type: 'string', default: '10000' },
    data: { type: 'string' },
    shared: { type: 'string', default: process.env.VIGIL_SHARED ? join(process.env.VIGIL_SHARED, 'data') : resolve('..', 'shared', 'data') },
    seed: { type: 'string', default: '2026' },
    warmup: { type: 'string', default: '50' },
    'keep-ingest-heap': { type: 'boolean', default: false },
  },
})
const N = Number(values.images)
// Checked before the ingest, not after it: the collection comes ~80 s into a 100,000-image run.
const collectIngestHeap = !values['keep-ingest-heap']
const collect = (globalThis as { gc?: () => void }).gc
if (collectIngestHeap && !collect) {
  process.stderr.write('[reassess] run with node --expose-gc (npm run bench:reassess does), or pass --keep-ingest-heap\n')
  process.exit(2)
}
const log = (msg: string) => process.stderr.write(`[reassess] ${msg}\n`)
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!
const round = (x: number) => Math.round(x * 1000) / 1000

const dir = values.data ?? mkdtempSync(join(tmpdir(), 'vigil-bench-reassess-'))
const store = openStore(dir, { mapSize: 256 * 1024 ** 3 })
ensureSchema(store)
const rng = seeded(Number(values.seed))

const pools = loadPools(values.shared!, await corpusBases())
log(`pools: ${pools.bases.length} bases (${pools.bases.map((b) => `${b.name}:${b.packages.length}`).join(' ')}), ${pools.lang.length} language packages, ${pools.osv.length} OSV records`)
const ndjson = (name: string, records: readonly OsvRecord[]) => {
  const file = join(dir, `${name}.ndjson`)
  writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n')
  return file
}
// Real records that name no pooled package: the bulk of a real 1,000-advisory update.
const others: OsvRecord[] = []
for (const sub of ['osv/go', 'osv/pypi']) {
  const known = new Set(pools.osv.map((r) => r.id))
  for (const f of readdirSync(join(values.shared!, 'advisories', sub)).filter((f) => f.endsWith('.json')).sort()) {
    const rec = JSON.parse(readFileSync(join(values.shared!, 'advisories', sub, f), 'utf8')) as OsvRecord
    if (!known.has(rec.id) && !rec.withdrawn) others.push(rec)
  }
}
await importFeeds(store, [ndjson('initial', [...pools.osv, ...others]), ...pools.feedFiles])

// --- ingest
const shape = { images: N, snapshots: 8, apps: Math.max(20, Math.round(N / 50)), appPackages: [120, 240] as [number, number], drift: 0.3 }
const loadBefore = loadavg()[0]!
const ingestCpu = process.cpuUsage()
let t0 = performance.now()
let batch: { inventory: ReturnType<typeof fleet> extends Generator<infer I> ? I : never }[] = []
let packages = 0
const sampleDigests: string[] = []
for (const inventory of fleet(pools, shape, rng)) {
  batch.push({ inventory })
  packages += inventory.packages.length
  if (rng() < Number(values.sample) / N) sampleDigests.push(inventory.image.digest)
  if (batch.length === 500) {
    indexImages(store, batch)
    batch = []
    if (sampleDigests.length % 10 === 0) log(`indexed ${packages} packages`)
  }
}
if (batch.length) indexImages(store, batch)
const ingestMs = performance.now() - t0
const ingestCpuMs = ((u) => (u.user + u.system) / 1000)(process.cpuUsage(ingestCpu))
log(`ingest: ${N} images, ${(packages / N).toFixed(0)} packages/image, ${(ingestMs / 1000).toFixed(1)} s`)

// --- what the daemon does once at start: the segment → image lists packed in memory, the
// id → digest table loaded (assess/index.ts warmIndex); timed apart from the deltas.
if (collectIngestHeap) collect!()
const heapBeforeDeltasMB = Math.round(process.memoryUsage().heapUsed / 1e6)
log(`heap before the deltas: ${heapBeforeDeltasMB} MB${collectIngestHeap ? ' (after collecting the ingest\'s garbage)' : ' (as the ingest left it)'}`)

t0 = performance.now()
const warmed = warmIndex(store)
const warmIndexMs = performance.now() - t0
log(`warm index: ${warmed.segments} segments, ${warmed.images} image entries, ${warmIndexMs.toFixed(0)} ms`)

// --- one-advisory deltas: real records that hit the fleet, each changed and imported alone
const hitting = pools.osv.filter((r) => variantsWithFinding(store, r.id).length > 0)
log(`${hitting.length} of ${pools.osv.length} pooled records hit the fleet`)
const single: number[] = []
const singleCpu: number[] = []
let singleEvents = 0
let stamp = Date.UTC(2031, 0, 1)
const nextStamp = () => new Date((stamp += 1000)).toISOString().replace('.000Z', 'Z')
const current = new Map(pools.osv.map((r) => [r.id, r]))
collectYoungBetweenDeltas()
// With VIGIL_BENCH_TRACE: garbage collections seen during timed deltas, listed at the end.
const gcs: { start: number; ms: number; kind: string }[] = []
const windows: { id: string; start: number; ms: number }[] = []
const gcKinds: Record<number, string> = { [perf.NODE_PERFORMANCE_GC_MINOR]: 'minor', [perf.NODE_PERFORMANCE_GC_MAJOR]: 'major', [perf.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [perf.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' }
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration, kind: gcKinds[((e as unknown as { detail: { kind: number } }).detail).kind] ?? '?' })
})
if (process.env.VIGIL_BENCH_TRACE) gcObserver.observe({ entryTypes: ['gc'] })
const warmup = Number(values.warmup)
for (let i = -warmup; i < Number(values.advisories); i++) {
  const base = pick(rng, hitting)
  const mutated = mutateRecord(current.get(base.id)!, pools, rng, nextStamp())
  const report = await importFeeds(store, [ndjson('one', [mutated])])
  const c = process.cpuUsage()
  const t = performance.now()
  let events = 0
  const sum = applyDelta(store, report.delta, { onChange: () => void events++ })
  const ms = performance.now() - t
  const used = process.cpuUsage(c)
  if (i >= 0) {
    windows.push({ id: base.id, start: t, ms })
    single.push(ms)
    singleCpu.push((used.user + used.system) / 1000)
    singleEvents += events
  }
  if (process.env.VIGIL_BENCH_TRACE) log(`delta ${base.id}${i < 0 ? ' (warm-up)' : ''}: ${ms.toFixed(2)} ms ${JSON.stringify(sum)}`)
  current.set(base.id, mutated)
  if (mutated.withdrawn) {
    // Feeds restore withdrawn records now and then; do it (untimed) so the pool stays real.
    const restored = { ...base, modified: nextStamp() }
    current.set(base.id, restored)
    applyDelta(store, (await importFeeds(store, [ndjson('restore', [restored])])).delta)
  }
}
if (process.env.VIGIL_BENCH_TRACE) {
  await new Promise((r) => setTimeout(r, 10))
  gcObserver.disconnect()
  let inside = 0
  for (const w of windows) {
    const met = gcs.filter((g) => g.start < w.start + w.ms && g.start + g.ms > w.start)
    inside += met.length
    if (w.ms > 8 || met.length > 0) log(`slow or collected: ${w.id} ${w.ms.toFixed(2)} ms, gc inside: ${met.map((g) => `${g.kind} ${g.ms.toFixed(2)} ms`).join(', ') || 'none'}`)
  }
  log(`gc during timed deltas: ${inside} of ${gcs.length} collections`)
}
log(`one-advisory: p50 ${percentile(single, 50).toFixed(2)} ms, p99 ${percentile(single, 99).toFixed(2)} ms, ${singleEvents} events`)

// --- 1,000 advisories in one delta
const thousand = [...pools.osv, ...others.filter(() => rng() < 0.5)].slice(0, 1000).map((r) => mutateRecord(current.get(r.id) ?? r, pools, rng, nextStamp()))
const bigReport = await importFeeds(store, [ndjson('thousand', thousand)])
let bigEvents = 0
t0 = performance.now()
applyDelta(store, bigReport.delta, { onChange: () => void bigEvents++ })
const thousandMs = performance.now() - t0
log(`1,000 advisories (${bigReport.delta.packageKeys.length} package keys): ${thousandMs.toFixed(0)} ms, ${bigEvents} events`)

// --- full re-match of every stored inventory (or of a sample, scaled)
const fullLimit = Number(values['full-limit'])
const all: string[] = []
if (N <= fullLimit) for (const k of store.images.getKeys({})) all.push(String(k))
const targets = N <= fullLimit ? all : sampleDigests
t0 = performance.now()
let rematched = 0
for (const digest of targets) {
  const inv = readInventory(store, digest)
  if (inv) rematched += matchInventory(store, inv).length >= 0 ? 1 : 0
}
const measured = performance.now() - t0
const fullRematchMs = N <= fullLimit ? measured : (measured / Math.max(1, rematched)) * N
log(`full re-match: ${measured.toFixed(0)} ms for ${rematched} images${N <= fullLimit ? '' : `, estimated ${fullRematchMs.toFixed(0)} ms for ${N}`}`)

const postings = postingCount(store)
const storeBytes = statSync(join(store.path, 'data.mdb')).size
const oneAdvisoryP50Ms = round(percentile(single, 50))
const result = {
  images: N,
  packagesPerImage: Math.round(packages / N),
  postings,
  packages: store.packages.getCount(),
  variants: store.variants.getCount(),
  storeBytes,
  bytesPerPosting: round(storeBytes / postings),
  ingestImagesPerSec: Math.round(N / (ingestMs / 1000)),
  ingestImagesPerCpuSec: Math.round(N / (ingestCpuMs / 1000)),
  heapBeforeDeltasMB,
  ingestHeapCollected: collectIngestHeap,
  warmIndexMs: round(warmIndexMs),
  oneAdvisoryDeltas: single.length,
  oneAdvisoryWarmup: warmup,
  oneAdvisoryHittingRecords: hitting.length,
  oneAdvisoryP50Ms,
  oneAdvisoryP99Ms: round(percentile(single, 99)),
  oneAdvisoryMaxMs: round(Math.max(...single)),
  oneAdvisoryEventsMean: Math.round(singleEvents / single.length),
  oneAdvisoryCpuP50Ms: round(percentile(singleCpu, 50)),
  oneAdvisoryCpuP99Ms: round(percentile(singleCpu, 99)),
  thousandAdvisoriesMs: round(thousandMs),
  thousandAdvisoriesPackageKeys: bigReport.delta.packageKeys.length,
  fullRematchMs: Math.round(fullRematchMs),
  fullRematchEstimated: N > fullLimit,
  fullRematchSample: rematched,
  ratio: Math.round(fullRematchMs / oneAdvisoryP50Ms),
  // Other processes share this machine; the 1-minute load average shows how much.
  loadAverage: [round(loadBefore), round(loadavg()[0]!)],
}
await store.close()
if (!values.data) rmSync(dir, { recursive: true, force: true })
mkdirSync('bench/results', { recursive: true })
writeFileSync(`bench/results/reassess-${N}.json`, JSON.stringify(result, null, 2) + '\n')
console.log(JSON.stringify(result))
