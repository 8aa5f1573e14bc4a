import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { importFeeds } from '../../src/match/index.js'
import { detectText } from '../../src/feeds/read.js'
import { tempStore } from './helpers.js'

noteSharedMissing('feed format detection')
const work = mkdtempSync(join(tmpdir(), 'vigil-formats-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const records = (n: number) => {
  const dir = sharedPath('advisories/osv/pypi')
  return readdirSync(dir).filter((f) => f.startsWith('PYSEC-')).sort().slice(0, n).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { id: string })
}

describe.skipIf(!HAS_SHARED)('feed formats are detected by content, not name', () => {
  it('reads an OSV array, gzipped NDJSON and a gzipped single record, whatever they are called', async () => {
    const recs = records(7)
    writeFileSync(join(work, 'a.json'), JSON.stringify(recs.slice(0, 3)))
    writeFileSync(join(work, 'b.gz'), gzipSync(recs.slice(3, 6).map((r) => JSON.stringify(r)).join('\n') + '\n'))
    writeFileSync(join(work, 'c.csv'), JSON.stringify(recs[6], null, 2)) // misnamed: content decides
    const t = tempStore()
    try {
      const report = await importFeeds(t.store, [join(work, 'a.json'), join(work, 'b.gz'), join(work, 'c.csv')])
      expect(report.errors).toEqual([])
      expect(report.sources).toEqual({ 'osv-json': 4, 'osv-ndjson': 3 })
      expect(report.delta.ids).toEqual(recs.map((r) => r.id).sort())
    } finally {
      await t.done()
    }
  })

  it('tells the documents apart from their first bytes', () => {
    const head = (p: string) => readFileSync(sharedPath(p), 'utf8').slice(0, 65536).trimStart()
    expect(detectText(head('advisories/alpine-secdb/alpinelinux-alpine-secdb/v3.10/main.json'))).toBe('alpine-secdb')
    expect(detectText(head('advisories/debian-tracker/vunnel_debian_tracker_sample.json'))).toBe('debian-tracker')
    expect(detectText(head('advisories/npm-nodejs-security-wg/vuln/npm/1.json'))).toBe('nodejs-wg')
    expect(detectText(head('advisories/osv/go/GO-2020-0001.json'))).toBe('osv-json')
    expect(detectText('#model_version:v2023.03.01,score_date:2024-05-01T00:00:00+0000\ncve,epss,percentile\n')).toBe('epss-csv')
    expect(detectText('{"title":"CISA Catalog","catalogVersion":"2024.05.01","vulnerabilities":[{"cveID":"CVE-2021-44228"}]}')).toBe('kev-json')
    expect(detectText('<html>')).toBeUndefined()
  })
})
