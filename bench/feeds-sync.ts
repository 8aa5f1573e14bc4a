/**
 * Feed sync at full size (`npm run build && node dist/bench/feeds-sync.js [--tracker-mb 150] [--zip-mb 300]`):
 *   - a generated Debian tracker file (real packages and CVEs of ../shared/data's sample,
 *     repeated under new names) and a generated OSV all.zip (real Go and PyPI records under new
 *     ids), each synced by `syncFeeds` from a mirror directory into a fresh store, each in its own
 *     process so its peak RSS is its own: records/s and peak RSS;
 *   - an unchanged sync of every source and every default unit over loopback HTTP (a small server
 *     here that answers If-None-Match with 304): wall time, and the time of the sync before it
 *     (the first after the all.zip reads, which fetches each OSV listing once).
 * Results go to bench/results/feeds-sync.json.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { crc32, deflateRawSync, gzipSync } from 'node:zlib'
import { zipSync } from 'fflate'
import { syncFeeds } from '../src/feeds/sync.js'
import { DEFAULT_ALPINE_BRANCHES, DEFAULT_OSV_ECOSYSTEMS, FEED_SOURCES } from '../src/feeds/sources/index.js'
import { openStore } from '../src/store/env.js'

const here = dirname(fileURLToPath(import.meta.url))
const ROOT = existsSync(join(here, '..', 'package.json')) ? resolve(here, '..') : resolve(here, '..', '..')
const SHARED = join(process.env.VIGIL_SHARED ?? resolve(ROOT, '..', 'shared'), 'data', 'advisories')
const MB = 1024 * 1024

function realOsv(): string[] {
  return ['go', 'pypi'].flatMap((d) =>
    readdirSync(join(SHARED, 'osv', d))
      .filter((f) => f.endsWith('.json') && !f.startsWith('LICENSE'))
      .map((f) => readFileSync(join(SHARED, 'osv', d, f), 'utf8')),
  )
}

/** CVE numbers made unique per copy (`CVE-2021-1234` → `CVE-2021-12340007`), so aliases stay as sparse as real ones. */
function renumber(text: string, copy: number): string {
  const suffix = String(copy).padStart(4, '0')
  return text.replace(/CVE-(\d{4})-(\d+)/g, (_m, y: string, n: string) => `CVE-${y}-${n}${suffix}`)
}

/** A tracker document of about `mb` MB: the sample's packages again and again, each copy under a new name. */
async function writeTracker(file: string, mb: number): Promise<void> {
  const sample = JSON.parse(readFileSync(join(SHARED, 'debian-tracker', 'vunnel_debian_tracker_sample.json'), 'utf8')) as Record<string, unknown>
  const parts = Object.entries(sample).map(([name, cves]) => [name, JSON.stringify(cves)] as const)
  // Each copy gets its own CVE numbers too: one CVE under thousands of packages would make the
  // alias lists, not the sync, the cost (the real tracker has a handful of packages per CVE).
  const out = createWriteStream(file)
  let size = 0
  let copy = 0
  out.write('{')
  while (size < mb * MB) {
    for (const [name, cves] of parts) {
      const piece = `${size === 0 ? '' : ','}\n${JSON.stringify(`${name}-${copy}`)}: ${renumber(cves, copy)}`
      size += piece.length
      if (!out.write(piece)) await new Promise<void>((r) => out.once('drain', () => r()))
    }
    copy++
  }
  out.write('\n}\n')
  await new Promise<void>((r) => out.end(r))
}

/**
 * An all.zip of about `mb` MB: real OSV records under new ids, deflated. Written entry by entry
 * (local header, data, then the central directory, zip64 end records past 65,535 entries) rather
 * than with fflate's Zip, which keeps every entry's bookkeeping on the heap and crawled to a halt
 * in a 1 GB heap at about 200 MB of output.
 */
async function writeZip(file: string, mb: number): Promise<void> {
  const texts = realOsv()
  const out = createWriteStream(file)
  const central: Buffer[] = []
  let offset = 0
  let entries = 0
  const put = async (b: Buffer) => {
    offset += b.length
    if (!out.write(b)) await new Promise<void>((res) => out.once('drain', () => res()))
  }
  for (let copy = 0; offset < mb * MB; copy++) {
    for (const text of texts) {
      const r = JSON.parse(renumber(text, copy)) as { id: string }
      const id = `${r.id}-${copy}`
      const name = Buffer.from(`${id}.json`)
      const raw = Buffer.from(JSON.stringify({ ...r, id }))
      const data = deflateRawSync(raw, { level: 6 })
      const crc = crc32(raw)
      const local = Buffer.alloc(30)
      local.writeUInt32LE(0x04034b50, 0)
      local.writeUInt16LE(20, 4)
      local.writeUInt16LE(8, 8)
      local.writeUInt32LE(crc, 14)
      local.writeUInt32LE(data.length, 18)
      local.writeUInt32LE(raw.length, 22)
      local.writeUInt16LE(name.length, 26)
      const cd = Buffer.alloc(46)
      cd.writeUInt32LE(0x02014b50, 0)
      cd.writeUInt16LE(45, 4)
      cd.writeUInt16LE(20, 6)
      cd.writeUInt16LE(8, 10)
      cd.writeUInt32LE(crc, 16)
      cd.writeUInt32LE(data.length, 20)
      cd.writeUInt32LE(raw.length, 24)
      cd.writeUInt16LE(name.length, 28)
      cd.writeUInt32LE(offset, 42)
      central.push(cd, name)
      entries++
      await put(Buffer.concat([local, name, data]))
    }
  }
  const cdStart = offset
  for (const b of central) await put(b)
  const cdSize = offset - cdStart
  const eocd64At = offset
  const eocd64 = Buffer.alloc(56)
  eocd64.writeUInt32LE(0x06064b50, 0)
  eocd64.writeBigUInt64LE(44n, 4)
  eocd64.writeUInt16LE(45, 12)
  eocd64.writeUInt16LE(45, 14)
  eocd64.writeBigUInt64LE(BigInt(entries), 24)
  eocd64.writeBigUInt64LE(BigInt(entries), 32)
  eocd64.writeBigUInt64LE(BigInt(cdSize), 40)
  eocd64.writeBigUInt64LE(BigInt(cdStart), 48)
  const locator = Buffer.alloc(20)
  locator.writeUInt32LE(0x07064b50, 0)
  locator.writeBigUInt64LE(BigInt(eocd64At), 8)
  locator.writeUInt32LE(1, 16)
  const eocd = Buffer.alloc(22)
  eocd.writeUInt32LE(0x06054b50, 0)
  eocd.writeUInt16LE(0xffff, 8)
  eocd.writeUInt16LE(0xffff, 10)
  eocd.writeUInt32LE(cdSize, 12)
  eocd.writeUInt32LE(cdStart, 16)
  await put(Buffer.concat([eocd64, locator, eocd]))
  await new Promise<void>((r) => out.end(r))
}

interface ImportResult { case: string; fileMB: number; records: number; seconds: number; recordsPerSecond: number; cpuSeconds: number; recordsPerCpuSecond: number; peakRssMB: number; peakAnonMB: number }

/** Child: one sync from the mirror into a fresh store; prints its numbers. */
async function child(kind: string, mirror: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-sync-'))
  const store = openStore(dir, { mapSize: 16 * 1024 ** 3 })
  // RSS counts the store's memory-mapped pages that the sync touched (file-backed, dropped by the
  // kernel under pressure); RssAnon is the process's own memory. Both peaks are reported.
  let peakAnon = 0
  const sample = () => {
    const kb = Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0)
    if (kb > peakAnon) peakAnon = kb
  }
  const sampler = setInterval(sample, 200)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const report = await syncFeeds(store, kind === 'tracker' ? { mirror, selectors: ['debian'] } : { mirror, selectors: ['osv'], osvEcosystems: ['Bench'] })
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(c0)
  clearInterval(sampler)
  sample()
  const u = report.units[0]!
  if (u.error) throw new Error(`${u.unit}: ${u.error.code} ${u.error.message}`)
  const records = u.added + u.changed + u.unchanged + u.withdrawn
  await store.close()
  rmSync(dir, { recursive: true, force: true })
  console.log(JSON.stringify({ records, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024), peakAnonMB: Math.round(peakAnon / 1024) }))
}

function runChild(kind: string, mirror: string, file: string): ImportResult {
  const res = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', kind, '--mirror', mirror], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (res.status !== 0) throw new Error(`${kind} child failed (${res.status ?? res.signal})`)
  const r = JSON.parse(res.stdout.trim().split('\n').pop()!) as { records: number; seconds: number; cpuSeconds: number; peakRssMB: number; peakAnonMB: number }
  const out = { case: kind === 'tracker' ? 'debian-tracker' : 'osv-all.zip', fileMB: Math.round(statSync(file).size / MB), records: r.records, seconds: Math.round(r.seconds * 100) / 100, recordsPerSecond: Math.round(r.records / r.seconds), cpuSeconds: Math.round(r.cpuSeconds * 100) / 100, recordsPerCpuSecond: Math.round(r.records / r.cpuSeconds), peakRssMB: r.peakRssMB, peakAnonMB: r.peakAnonMB }
  console.log(`${out.case.padEnd(16)} ${out.fileMB} MB, ${out.records} records in ${out.seconds} s = ${out.recordsPerSecond} records/s (${out.recordsPerCpuSecond} per CPU-second), peak RSS ${out.peakRssMB} MB (anonymous ${out.peakAnonMB} MB); loadavg ${loadavg()[0]!.toFixed(1)}`)
  return out
}

/** A mirror with a small real file for every default unit, served with ETags; times the syncs of everything. */
async function unchangedSync(): Promise<Record<string, number>> {
  const base = mkdtempSync(join(tmpdir(), 'vigil-bench-mirror-'))
  const put = (path: string, bytes: string | Uint8Array) => {
    const f = join(base, ...path.split('/'))
    mkdirSync(dirname(f), { recursive: true })
    writeFileSync(f, bytes)
  }
  const osv = realOsv().slice(0, 200)
  const zip = zipSync(Object.fromEntries(osv.map((t) => [`${(JSON.parse(t) as { id: string }).id}.json`, new TextEncoder().encode(t)])))
  const listing = osv.map((t) => JSON.parse(t) as { id: string; modified: string }).map((r) => `${r.modified},${r.id}`).join('\n') + '\n'
  for (const eco of DEFAULT_OSV_ECOSYSTEMS) {
    put(`osv/${eco}/all.zip`, zip)
    put(`osv/${eco}/modified_id.csv`, listing)
  }
  put('debian/tracker/data/json', readFileSync(join(SHARED, 'debian-tracker', 'vunnel_debian_tracker_sample.json')))
  for (const b of DEFAULT_ALPINE_BRANCHES) {
    for (const repo of ['main', 'community']) {
      const doc = JSON.parse(readFileSync(join(SHARED, 'alpine-secdb', 'alpinelinux-alpine-secdb', 'v3.10', `${repo}.json`), 'utf8')) as Record<string, unknown>
      put(`alpine/${b}/${repo}.json`, JSON.stringify({ ...doc, distroversion: b }))
    }
  }
  put('epss/epss_scores-current.csv.gz', gzipSync('#model_version:v2025.03.14,score_date:2026-12-07T00:00:00+0000\ncve,epss,percentile\nCVE-2021-44228,0.97,1.0\n'))
  put('kev/sites/default/files/feeds/known_exploited_vulnerabilities.json', JSON.stringify({ catalogVersion: '1', vulnerabilities: [{ cveID: 'CVE-2021-44228' }] }))
  let requests = 0
  const server = createServer((req, res) => {
    requests++
    const file = join(base, ...decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).split('/').filter(Boolean))
    if (!existsSync(file)) {
      res.writeHead(404).end()
      return
    }
    const body = readFileSync(file)
    const etag = `"${createHash('sha1').update(body).digest('hex')}"`
    if (req.headers['if-none-match'] === etag) res.writeHead(304, { etag }).end()
    else res.writeHead(200, { etag, 'content-length': body.length }).end(body)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-unchanged-'))
  const store = openStore(dir)
  const timed = async () => {
    const r0 = requests
    const t0 = performance.now()
    const report = await syncFeeds(store, { mirror })
    const failed = report.units.filter((u) => u.error)
    if (failed.length) throw new Error(`unchanged sync: ${failed.map((u) => `${u.unit} ${u.error!.code}`).join(', ')}`)
    return { ms: Math.round(performance.now() - t0), requests: requests - r0, units: report.units.length }
  }
  const first = await timed()
  const listings = await timed()
  const unchanged = await timed()
  await store.close()
  server.close()
  rmSync(dir, { recursive: true, force: true })
  rmSync(base, { recursive: true, force: true })
  console.log(`unchanged sync   ${unchanged.units} units of ${FEED_SOURCES.length} sources: ${unchanged.requests} requests in ${unchanged.ms} ms (the sync before it, reading each OSV listing once: ${listings.ms} ms)`)
  return { units: unchanged.units, firstSyncMs: first.ms, listingSyncMs: listings.ms, listingSyncRequests: listings.requests, unchangedSyncMs: unchanged.ms, unchangedSyncRequests: unchanged.requests }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { child: { type: 'string' }, mirror: { type: 'string' }, 'tracker-mb': { type: 'string', default: '150' }, 'zip-mb': { type: 'string', default: '300' } } })
  if (values.child) return child(values.child, values.mirror!)
  const work = mkdtempSync(join(tmpdir(), 'vigil-bench-feedsync-'))
  try {
    const tracker = join(work, 'debian', 'tracker', 'data', 'json')
    mkdirSync(dirname(tracker), { recursive: true })
    await writeTracker(tracker, Number(values['tracker-mb']))
    const results: ImportResult[] = [runChild('tracker', work, tracker)]
    rmSync(tracker)
    const zip = join(work, 'osv', 'Bench', 'all.zip')
    mkdirSync(dirname(zip), { recursive: true })
    await writeZip(zip, Number(values['zip-mb']))
    results.push(runChild('zip', work, zip))
    rmSync(zip)
    const unchanged = await unchangedSync()
    const out = { bench: 'feeds-sync', date: new Date().toISOString(), node: process.version, loadavg: loadavg(), target: '>= 20,000 records/s and <= 512 MB peak RSS per full-size source; unchanged sync of every source <= 2 s', results, unchanged }
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
    writeFileSync(join(ROOT, 'bench', 'results', 'feeds-sync.json'), JSON.stringify(out, null, 2) + '\n')
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

await main()
