import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { zipSync } from 'fflate'
import { afterAll, describe, expect, it } from 'vitest'
import { seeded as rng } from '../../bench/reassess-fleet.js'
import { readFeedPath, type ReadItem } from '../../src/feeds/read.js'
import { DEFAULT_LIMITS } from '../../src/feeds/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'

/**
 * Fuzz of the feed readers: real feed files of every format (../shared), cut at random points,
 * with random bytes written over them, and pure random bytes under feed-like names. Reading
 * never throws; every problem comes out as an error item with a stable code; the heap stays
 * bounded. VIGIL_FUZZ_SEED replays a seed; a failure names the seed, the file and the change.
 */

noteSharedMissing('feed reader fuzz')
const SEED = Number(process.env.VIGIL_FUZZ_SEED ?? 20261208)
const CODES = new Set(['ERR_FEED_INVALID', 'ERR_FEED_FORMAT_UNKNOWN', 'ERR_FEED_RECORD_TOO_LARGE', 'ERR_FEED_RANGE_UNSUPPORTED', 'ERR_FEED_UNREADABLE'])
const work = mkdtempSync(join(tmpdir(), 'vigil-feedfuzz-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** One real file per format (plus generated EPSS/KEV in their published formats), as name → bytes. */
function corpus(): [string, Buffer][] {
  const go = readdirSync(sharedPath('advisories/osv/go')).filter((f) => f.endsWith('.json')).sort().slice(0, 12)
  const goRecords = go.map((f) => readFileSync(sharedPath('advisories/osv/go', f)))
  const ndjson = Buffer.from(goRecords.map((b) => JSON.stringify(JSON.parse(b.toString('utf8')))).join('\n') + '\n')
  const epss = Buffer.from(['#model_version:v2025.03.14,score_date:2026-12-07T12:55:00Z', 'cve,epss,percentile', ...Array.from({ length: 400 }, (_, i) => `CVE-2024-${10_000 + i},0.0${i % 10}123,0.${i % 100}`)].join('\n') + '\n')
  const kev = Buffer.from(JSON.stringify({ title: 'CISA Catalog of Known Exploited Vulnerabilities', catalogVersion: '2026.12.07', dateReleased: '2026-12-07T15:00:00.000Z', vulnerabilities: Array.from({ length: 50 }, (_, i) => ({ cveID: `CVE-2023-${20_000 + i}`, vendorProject: 'V' })) }))
  return [
    ['osv-record.json', goRecords[0]!],
    ['osv-array.json', Buffer.from(`[${goRecords.map((b) => b.toString('utf8')).join(',')}]`)],
    ['osv.ndjson', ndjson],
    ['osv.ndjson.gz', gzipSync(ndjson)],
    ['all.zip', Buffer.from(zipSync(Object.fromEntries(go.map((f, i) => [f, new Uint8Array(goRecords[i]!)]))))],
    ['alpine-main.json', readFileSync(sharedPath('advisories/alpine-secdb/alpinelinux-alpine-secdb/v3.5/main.json'))],
    ['debian-tracker.json', readFileSync(sharedPath('advisories/debian-tracker/vunnel_debian_tracker_sample.json'))],
    ['nodejs-410.json', readFileSync(sharedPath('advisories/npm-nodejs-security-wg/vuln/npm/410.json'))],
    ['epss.csv', epss],
    ['epss.csv.gz', gzipSync(epss)],
    ['kev.json', kev],
  ]
}

async function readAll(path: string): Promise<ReadItem[]> {
  const items: ReadItem[] = []
  for await (const item of readFeedPath(path, DEFAULT_LIMITS)) items.push(item)
  return items
}

function heapNow(): number {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

describe.skipIf(!HAS_SHARED)('feed reader fuzz: truncation and random bytes end in coded errors', () => {
  it(`real files of every format, cut and overwritten (seed ${SEED})`, async () => {
    const next = rng(SEED)
    const files = corpus()
    // Intact, every file reads without an error.
    for (const [name, bytes] of files) {
      const path = join(work, name)
      writeFileSync(path, bytes)
      const items = await readAll(path)
      expect(items.filter((i) => i.kind === 'error'), name).toEqual([])
      expect(items.some((i) => i.kind === 'record' || i.kind === 'epss' || i.kind === 'kev'), name).toBe(true)
    }
    const before = heapNow()
    let peak = before
    const seen = new Map<string, number>()
    for (let round = 0; round < 30; round++) {
      for (const [name, bytes] of files) {
        const cut = Math.floor(next() * bytes.length)
        const damaged = Buffer.from(bytes.subarray(0, cut))
        const changes: string[] = [`cut at ${cut}`]
        if (round % 2 === 1) {
          for (let i = 0, n = 1 + Math.floor(next() * 6); i < n && damaged.length > 0; i++) {
            const at = Math.floor(next() * damaged.length)
            damaged[at] = Math.floor(next() * 256)
            changes.push(`byte ${at}`)
          }
        }
        const path = join(work, `damaged-${name}`)
        writeFileSync(path, damaged)
        let items: ReadItem[]
        try {
          items = await readAll(path)
        } catch (err) {
          throw new Error(`seed ${SEED}: ${name} (${changes.join(', ')}) threw ${String(err)}`)
        }
        for (const item of items) {
          if (item.kind !== 'error') continue
          expect(CODES.has(item.error.code), `seed ${SEED}: ${name} (${changes.join(', ')}): code ${item.error.code}`).toBe(true)
          seen.set(item.error.code, (seen.get(item.error.code) ?? 0) + 1)
        }
        peak = Math.max(peak, heapNow())
      }
    }
    // Damage is noticed: the common codes all occur.
    expect(seen.get('ERR_FEED_INVALID')).toBeGreaterThan(0)
    expect(seen.get('ERR_FEED_UNREADABLE')).toBeGreaterThan(0)
    expect(peak - before).toBeLessThan(256 * 1024 ** 2)
  })

  it(`random bytes under every feed-like name are an error, never a throw (seed ${SEED})`, async () => {
    const next = rng(SEED + 1)
    const magics = [Buffer.alloc(0), Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from('PK\u0003\u0004'), Buffer.from('{"id":"'), Buffer.from('#model_version:'), Buffer.from('[')]
    for (let round = 0; round < 60; round++) {
      const magic = magics[round % magics.length]!
      const random = Buffer.alloc(Math.floor(next() * 200_000))
      for (let i = 0; i < random.length; i++) random[i] = Math.floor(next() * 256)
      const name = `random-${round}.${['json', 'ndjson', 'gz', 'zip', 'csv'][round % 5]}`
      const path = join(work, name)
      writeFileSync(path, Buffer.concat([magic, random]))
      const items = await readAll(path)
      const errors = items.filter((i) => i.kind === 'error')
      const data = items.filter((i) => i.kind === 'record' || (i.kind === 'epss' && i.rows.size > 0) || i.kind === 'kev')
      expect(data, `seed ${SEED}: ${name} read as data`).toEqual([])
      // An EPSS header followed by noise is a file of bad rows; everything else is one error.
      expect(errors.length, `seed ${SEED}: ${name}`).toBeGreaterThan(0)
      for (const e of errors) if (e.kind === 'error') expect(CODES.has(e.error.code), `seed ${SEED}: ${name}: ${e.error.code}`).toBe(true)
    }
  })
})
