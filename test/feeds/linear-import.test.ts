import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { createGzip } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { reassessAfterImport } from '../../src/assess/index.js'
import { importFeeds } from '../../src/match/index.js'
import type { Store } from '../../src/store/env.js'
import { tempStore } from './helpers.js'

/**
 * Imports grow linearly with their input, asserted by what is written rather than by time: a
 * real-size EPSS file (250,000 rows, the header format FIRST publishes) and a KEV catalogue
 * queue their re-scoring once and then write only a cursor per batch. And one endless line or
 * record is refused at the size limit while memory stays flat.
 */

const work = mkdtempSync(join(tmpdir(), 'vigil-linear-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Counts what the re-assessment queue writes: items of whole works, and cursor writes. */
function countQueueWrites(store: Store, ceiling: number): { items: number; cursors: number } {
  const tally = { items: 0, cursors: 0 }
  const put = store.meta.putSync.bind(store.meta)
  store.meta.putSync = ((key: unknown, value: unknown, ...rest: unknown[]) => {
    if (typeof key === 'string' && key.startsWith('assess:')) {
      const items = (value as { items?: unknown[] } | undefined)?.items
      if (Array.isArray(items)) tally.items += items.length
      else tally.cursors++
      // Fail at once, not after the quadratic run: a work list re-written per batch passes this.
      if (tally.items > ceiling) throw new Error(`the re-assessment queue wrote ${tally.items} items for a ${ceiling / 2}-item work`)
    }
    return (put as (...a: unknown[]) => boolean)(key, value, ...rest)
  }) as typeof store.meta.putSync
  return tally
}

function cve(i: number): string {
  return `CVE-${1999 + (i % 27)}-${String(10_000 + i).padStart(5, '0')}`
}

describe('linear imports', () => {
  it('EPSS at real size (250,000 rows): queued once, one cursor write per batch', { timeout: 300_000 }, async () => {
    const rows = 250_000
    const path = join(work, 'epss_scores-2026-12-07.csv')
    const lines = ['#model_version:v2025.03.14,score_date:2026-12-07T12:55:00Z', 'cve,epss,percentile']
    for (let i = 0; i < rows; i++) lines.push(`${cve(i)},${((i % 997) / 1000).toFixed(5)},${((i % 1000) / 1000).toFixed(5)}`)
    writeFileSync(path, `${lines.join('\n')}\n`)
    const t = tempStore()
    try {
      const report = await importFeeds(t.store, [path])
      expect(report.errors).toEqual([])
      expect(report.exploit.epss).toBe(rows)
      expect(report.exploit.changedCves).toHaveLength(rows)
      const writes = countQueueWrites(t.store, 2 * rows)
      const summary = reassessAfterImport(t.store, report)
      expect(summary.items).toBe(rows)
      expect(summary.batches).toBe(Math.ceil(rows / 256))
      // The work (every CVE) is written when queued, and then only cursors, one per batch.
      expect(writes.items).toBe(rows)
      expect(writes.cursors).toBeLessThanOrEqual(summary.batches)
    } finally {
      await t.done()
    }
  })

  it('KEV at real size (1,500 entries in the CISA catalogue format): the same', async () => {
    const entries = 1_500
    const vulnerabilities = Array.from({ length: entries }, (_, i) => ({
      cveID: cve(i), vendorProject: 'Vendor', product: 'Product', vulnerabilityName: `Vendor Product flaw ${i}`, dateAdded: '2024-01-01',
      shortDescription: 'A flaw.', requiredAction: 'Apply mitigations per vendor instructions.', dueDate: '2024-01-22', knownRansomwareCampaignUse: 'Unknown', notes: '', cwes: ['CWE-20'],
    }))
    const path = join(work, 'known_exploited_vulnerabilities.json')
    writeFileSync(path, JSON.stringify({ title: 'CISA Catalog of Known Exploited Vulnerabilities', catalogVersion: '2026.12.07', dateReleased: '2026-12-07T15:00:00.000Z', count: entries, vulnerabilities }))
    const t = tempStore()
    try {
      const report = await importFeeds(t.store, [path])
      expect(report.exploit.kev).toBe(entries)
      const writes = countQueueWrites(t.store, 2 * entries)
      const summary = reassessAfterImport(t.store, report)
      expect(summary.batches).toBe(Math.ceil(entries / 256))
      expect(writes.items).toBe(entries)
    } finally {
      await t.done()
    }
  })
})

/** A gzip of `prefix`, then `bytes` of one line with no newline, then `suffix`; written streaming. */
async function hugeLineGzip(path: string, prefix: string, bytes: number, suffix = ''): Promise<void> {
  const chunk = Buffer.alloc(1 << 20, 0x78)
  async function* body(): AsyncGenerator<Buffer> {
    yield Buffer.from(prefix)
    for (let left = bytes; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left)
    yield Buffer.from(suffix)
  }
  const out = createWriteStream(path)
  await pipeline(Readable.from(body()), createGzip({ level: 1 }), out)
}

/** Peak RSS growth while `run` executes, sampled every 10 ms. */
async function peakGrowth<T>(run: () => Promise<T>): Promise<{ value: T; growth: number }> {
  const base = process.memoryUsage.rss()
  let peak = base
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10)
  try {
    const value = await run()
    return { value, growth: Math.max(peak, process.memoryUsage.rss()) - base }
  } finally {
    clearInterval(timer)
  }
}

describe('one huge line or record is refused at the limit, in bounded memory', () => {
  const MiB = 1024 ** 2
  const cases: [string, string, number, string, string][] = [
    // The case: a 768 MB single-line gzip (here one OSV record that never ends).
    ['a 768 MiB single-line OSV record', '{"id":"HUGE-1","modified":"2024-01-01T00:00:00Z","details":"', 768 * MiB, '"}', 'ERR_FEED_RECORD_TOO_LARGE'],
    ['an EPSS file whose second row is 256 MiB', '#model_version:v2025.03.14,score_date:2026-12-07T12:55:00Z\ncve,epss,percentile\nCVE-2021-44228,0.97,1.0\n', 256 * MiB, '\nCVE-2014-0160,0.9,0.99\n', 'ERR_FEED_RECORD_TOO_LARGE'],
    ['an NDJSON file whose second record is 256 MiB', '{"id":"GHSA-0000-0000-0001","modified":"2024-01-01T00:00:00Z"}\n{"id":"HUGE-2","details":"', 256 * MiB, '"}\n', 'ERR_FEED_RECORD_TOO_LARGE'],
    ['256 MiB of one line of nothing known', '', 256 * MiB, '', 'ERR_FEED_FORMAT_UNKNOWN'],
  ]
  it.each(cases)('%s', async (_label, prefix, bytes, suffix, code) => {
    const path = join(work, `huge-${bytes}-${prefix.length}.gz`)
    await hugeLineGzip(path, prefix, bytes, suffix)
    const t = tempStore()
    try {
      const { value: report, growth } = await peakGrowth(() => importFeeds(t.store, [path]))
      expect(report.errors.map((e) => e.code)).toContain(code)
      // The record limit is 16 MiB; the line is never held whole (it was, and then some: 1.67 GB).
      expect(growth).toBeLessThan(160 * MiB)
      if (prefix.startsWith('#model')) expect(report.exploit.epss).toBe(2)
    } finally {
      await t.done()
      rmSync(path, { force: true })
    }
  })
})

