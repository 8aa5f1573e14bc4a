import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { Zip, ZipDeflate, zipSync } from 'fflate'
import { afterAll, describe, expect, it } from 'vitest'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { importFeeds } from '../../src/match/index.js'
import { readRecord } from '../../src/store/advisories.js'
import { tempStore } from './helpers.js'

noteSharedMissing('bad feed handling')

const work = mkdtempSync(join(tmpdir(), 'vigil-badfeeds-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

function goRecords(n: number): { name: string; text: string; id: string }[] {
  const dir = sharedPath('advisories/osv/go')
  return readdirSync(dir).filter((f) => f.startsWith('GO-')).sort().slice(0, n).map((name) => {
    const text = readFileSync(join(dir, name), 'utf8')
    return { name, text, id: (JSON.parse(text) as { id: string }).id }
  })
}

/** Writes `{"id": …, "details": "xxxx…"}` of about `bytes` bytes in 1 MB pieces. */
async function writeHugeRecord(path: string, bytes: number, prefix = ''): Promise<void> {
  const out = createWriteStream(path)
  out.write(`${prefix}{"id":"HUGE-1","modified":"2024-01-01T00:00:00Z","details":"`)
  const chunk = 'x'.repeat(1 << 20)
  for (let written = 0; written < bytes; written += chunk.length) if (!out.write(chunk)) await once(out, 'drain')
  out.end('"}\n')
  await once(out, 'finish')
}

describe.skipIf(!HAS_SHARED)('bad feeds: clear errors, the rest lands', () => {
  it('a truncated zip imports its complete entries and says it is truncated', async () => {
    const recs = goRecords(40)
    const zip = zipSync(Object.fromEntries(recs.map((r) => [r.name, new TextEncoder().encode(r.text)])))
    const path = join(work, 'all.zip')
    writeFileSync(path, zip.subarray(0, Math.floor(zip.length * 0.6)))
    const t = tempStore()
    try {
      const report = await importFeeds(t.store, [path])
      expect(report.added).toBeGreaterThan(10)
      expect(report.added).toBeLessThan(40)
      expect(report.errors.some((e) => e.code === 'ERR_FEED_UNREADABLE' && /truncated/.test(e.message))).toBe(true)
      expect(readRecord(t.store, recs[0]!.id)?.id).toBe(recs[0]!.id)
    } finally {
      await t.done()
    }
  })

  it('a whole zip imports every entry, and an entry over the record limit is refused', async () => {
    const recs = goRecords(20)
    const entries = Object.fromEntries(recs.map((r) => [r.name, new TextEncoder().encode(r.text)]))
    entries['BIG.json'] = new TextEncoder().encode(JSON.stringify({ id: 'BIG-1', details: 'y'.repeat(300_000) }))
    const path = join(work, 'whole.zip')
    writeFileSync(path, zipSync(entries))
    const t = tempStore()
    try {
      const report = await importFeeds(t.store, [path], { maxRecordBytes: 100_000 })
      expect(report.added).toBe(20)
      expect(report.errors.map((e) => e.code)).toEqual(['ERR_FEED_RECORD_TOO_LARGE'])
      expect(report.errors[0]!.file).toContain('BIG.json')
    } finally {
      await t.done()
    }
  })

  it('stops a zip bomb whose sizes are hidden in data descriptors at the record limit', async () => {
    // Streaming zip writers put sizes after the data, so the reader only learns them by inflating.
    const [good] = goRecords(1)
    const chunks: Uint8Array[] = []
    const zip = new Zip((err, data) => {
      if (err) throw err
      chunks.push(data)
    })
    const add = (name: string, body: Uint8Array) => {
      const f = new ZipDeflate(name, { level: 9 })
      zip.add(f)
      f.push(body, true)
    }
    add('bomb.json', new TextEncoder().encode(`{"id":"BOMB-1","details":"${'z'.repeat(50 * 1024 * 1024)}"}`))
    add(good!.name, new TextEncoder().encode(good!.text))
    zip.end()
    const path = join(work, 'bomb.zip')
    writeFileSync(path, Buffer.concat(chunks))
    const t = tempStore()
    try {
      const report = await importFeeds(t.store, [path], { maxRecordBytes: 1024 * 1024 })
      expect(report.errors.map((e) => `${e.code} ${e.file.split('!').pop()}`)).toEqual(['ERR_FEED_RECORD_TOO_LARGE bomb.json'])
      expect(report.added).toBe(1)
    } finally {
      await t.done()
    }
  })

  it('invalid JSON and unknown range types are reported per file and record', async () => {
    const dir = join(work, 'mixed')
    mkdirSync(dir)
    const [a, b] = goRecords(2)
    writeFileSync(join(dir, 'a.json'), a!.text)
    writeFileSync(join(dir, 'broken.json'), a!.text.slice(0, 200))
    const odd = JSON.parse(b!.text) as { affected: { ranges: { type: string }[] }[] }
    odd.affected[0]!.ranges[0]!.type = 'CALVER'
    writeFileSync(join(dir, 'odd.json'), JSON.stringify(odd))
    writeFileSync(join(dir, 'notes.json'), '{"hello": "world"}')
    const t = tempStore()
    try {
      const report = await importFeeds(t.store, [dir, join(work, 'does-not-exist')])
      const codes = report.errors.map((e) => `${e.code} ${e.file.split('/').pop()}`).sort()
      expect(codes).toEqual([
        'ERR_FEED_FORMAT_UNKNOWN notes.json',
        'ERR_FEED_INVALID broken.json',
        'ERR_FEED_RANGE_UNSUPPORTED odd.json',
        'ERR_FEED_UNREADABLE does-not-exist',
      ])
      expect(report.errors.find((e) => e.code === 'ERR_FEED_RANGE_UNSUPPORTED')?.id).toBe(b!.id)
      // the good record and the record with the odd range (minus that range) both landed
      expect(report.added).toBe(2)
    } finally {
      await t.done()
    }
  })

  it('refuses a 100 MB record without reading it into memory', async () => {
    const path = join(work, 'huge.json')
    await writeHugeRecord(path, 100 * 1024 * 1024)
    const [good] = goRecords(1)
    writeFileSync(join(work, 'good.json'), good!.text)
    const t = tempStore()
    try {
      const before = process.memoryUsage().rss
      const report = await importFeeds(t.store, [path, join(work, 'good.json')])
      const grew = process.memoryUsage().rss - before
      expect(report.errors.map((e) => e.code)).toEqual(['ERR_FEED_RECORD_TOO_LARGE'])
      expect(report.added).toBe(1)
      expect(grew).toBeLessThan(50 * 1024 * 1024)
    } finally {
      await t.done()
      rmSync(path)
    }
  }, 60_000)

  it('drops a 100 MB NDJSON line as it streams and keeps the lines around it', async () => {
    const [a, b] = goRecords(2)
    const path = join(work, 'feed.ndjson')
    await writeHugeRecord(path, 100 * 1024 * 1024, JSON.stringify(JSON.parse(a!.text)) + '\n')
    writeFileSync(path, JSON.stringify(JSON.parse(b!.text)) + '\n', { flag: 'a' })
    const t = tempStore()
    try {
      const before = process.memoryUsage().rss
      const report = await importFeeds(t.store, [path])
      const grew = process.memoryUsage().rss - before
      expect(report.errors.map((e) => `${e.code} ${e.file.split('/').pop()}`)).toEqual(['ERR_FEED_RECORD_TOO_LARGE feed.ndjson:2'])
      expect(report.added).toBe(2)
      expect(grew).toBeLessThan(60 * 1024 * 1024)
    } finally {
      await t.done()
      rmSync(path)
    }
  }, 60_000)
})
