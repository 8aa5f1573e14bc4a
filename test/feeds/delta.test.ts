import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { applyExploitData, importFeeds, matchPackage } from '../../src/match/index.js'
import { advisoryStatus, readCompiled, readRecord } from '../../src/store/advisories.js'
import { langPkg, osPkg, tempStore } from './helpers.js'

noteSharedMissing('feed deltas')
const work = mkdtempSync(join(tmpdir(), 'vigil-delta-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe.skipIf(!HAS_SHARED)('feed deltas', () => {
  it('a changed OSV record is a delta by id and modified; a withdrawn one is removed', async () => {
    const original = readFileSync(sharedPath('advisories/osv/go/GO-2020-0001.json'), 'utf8')
    const rec = JSON.parse(original) as { modified: string; withdrawn?: string; affected: { ranges: { events: Record<string, string>[] }[] }[] }
    const t = tempStore()
    try {
      const file = join(work, 'GO-2020-0001.json')
      writeFileSync(file, original)
      const first = await importFeeds(t.store, [file])
      expect(first.delta).toEqual({ changed: ['GO-2020-0001'], withdrawn: [], ids: ['GO-2020-0001'], packageKeys: ['Go\0github.com/gin-gonic/gin'] })
      const gin = langPkg('Go', 'github.com/gin-gonic/gin', 'v1.6.0')
      expect(matchPackage(t.store, gin)).toEqual([])

      rec.modified = '2030-01-01T00:00:00Z'
      rec.affected[0]!.ranges[0]!.events = [{ introduced: '0' }, { fixed: '1.7.0' }]
      writeFileSync(file, JSON.stringify(rec))
      const second = await importFeeds(t.store, [file])
      expect([second.added, second.changed, second.unchanged]).toEqual([0, 1, 0])
      expect(second.delta.packageKeys).toEqual(['Go\0github.com/gin-gonic/gin'])
      expect(matchPackage(t.store, gin).map((f) => [f.id, f.fixedVersions, f.modified])).toEqual([['GO-2020-0001', ['1.7.0'], '2030-01-01T00:00:00Z']])

      rec.withdrawn = '2025-02-01T00:00:00Z' // past: a withdrawn time in the future is not in force yet
      writeFileSync(file, JSON.stringify(rec))
      const third = await importFeeds(t.store, [file])
      expect(third.delta.withdrawn).toEqual(['GO-2020-0001'])
      expect(readRecord(t.store, 'GO-2020-0001')).toBeUndefined()
      expect(readCompiled(t.store, 'Go\0github.com/gin-gonic/gin')).toEqual([])
      expect(advisoryStatus(t.store).sources.osv?.records).toBe(0)
    } finally {
      await t.done()
    }
  })

  it('Debian tracker: open → unfixed finding; wont-fix; resolved 0 withdraws it', async () => {
    const tracker = JSON.parse(readFileSync(sharedPath('advisories/debian-tracker/osv.dev_debian_security_tracker_mock.json'), 'utf8')) as Record<string, Record<string, { releases: Record<string, Record<string, unknown>> }>>
    const t = tempStore()
    try {
      const file = join(work, 'tracker.json')
      const one = { apparmor: { 'CVE-2016-1585': tracker.apparmor!['CVE-2016-1585']! } }
      const bookworm = one.apparmor['CVE-2016-1585'].releases.bookworm!
      Object.assign(bookworm, { status: 'open', fixed_version: undefined, urgency: 'low', nodsa_reason: undefined })
      writeFileSync(file, JSON.stringify(one))
      await importFeeds(t.store, [file])
      const pkg = osPkg('Debian:12', 'apparmor', '3.0.8-3', 'apparmor')
      const f = matchPackage(t.store, pkg).find((x) => x.id === 'CVE-2016-1585')
      expect([f?.state, f?.fixedVersions, f?.severity]).toEqual(['affected', [], 'LOW'])

      Object.assign(bookworm, { nodsa: 'Minor issue', nodsa_reason: 'ignored' })
      writeFileSync(file, JSON.stringify(one))
      const changed = await importFeeds(t.store, [file])
      expect(changed.delta.changed).toEqual(['Debian:12/apparmor/CVE-2016-1585'])
      expect(matchPackage(t.store, pkg).find((x) => x.id === 'CVE-2016-1585')?.state).toBe('wont-fix')

      Object.assign(bookworm, { status: 'resolved', fixed_version: '0', nodsa: undefined, nodsa_reason: undefined })
      writeFileSync(file, JSON.stringify(one))
      const gone = await importFeeds(t.store, [file])
      expect(gone.delta.withdrawn).toEqual(['Debian:12/apparmor/CVE-2016-1585'])
      expect(gone.delta.packageKeys).toEqual(['Debian:12\0apparmor'])
      expect(matchPackage(t.store, pkg).find((x) => x.id === 'CVE-2016-1585')).toBeUndefined()
    } finally {
      await t.done()
    }
  })

  it('EPSS (plain and gzip) and KEV update only the CVEs that changed, and re-score findings', async () => {
    const t = tempStore()
    try {
      // CVE-2008-7220 is the prototypejs entry of the vunnel Debian tracker sample.
      await importFeeds(t.store, [sharedPath('advisories/debian-tracker/vunnel_debian_tracker_sample.json')])
      const pkg = osPkg('Debian:9', 'libjs-prototype', '1.6.0-1', 'prototypejs')
      const before = matchPackage(t.store, pkg).find((f) => f.id === 'CVE-2008-7220')!
      const csv = '#model_version:v2023.03.01,score_date:2024-05-01T00:00:00+0000\ncve,epss,percentile\nCVE-2008-7220,0.41,0.97\nCVE-2021-44228,0.97,1.0\nbogus,row\n'
      writeFileSync(join(work, 'epss.csv.gz'), gzipSync(csv))
      writeFileSync(join(work, 'epss.csv'), csv)
      const kev = { title: 'CISA Catalog of Known Exploited Vulnerabilities', catalogVersion: '2024.05.01', dateReleased: '2024-05-01T15:00:00.000Z', vulnerabilities: [{ cveID: 'CVE-2021-44228' }, { cveID: 'CVE-2008-7220' }] }
      writeFileSync(join(work, 'kev.json'), JSON.stringify(kev))
      const r1 = await importFeeds(t.store, [join(work, 'epss.csv.gz'), join(work, 'kev.json')])
      expect(r1.exploit).toEqual({ epss: 2, kev: 2, changedCves: ['CVE-2008-7220', 'CVE-2021-44228'] })
      expect(r1.errors.map((e) => e.code)).toEqual(['ERR_FEED_INVALID'])
      const after = matchPackage(t.store, pkg).find((f) => f.id === 'CVE-2008-7220')!
      expect([after.epss, after.kev]).toEqual([0.41, true])
      expect(after.risk).toBeGreaterThan(before.risk)

      const r2 = await importFeeds(t.store, [join(work, 'epss.csv')])
      expect(r2.exploit.changedCves).toEqual([])
      kev.vulnerabilities = [{ cveID: 'CVE-2021-44228' }]
      expect(applyExploitData(t.store, { kev: new Set(['CVE-2021-44228']) }).changedCves).toEqual(['CVE-2008-7220'])
      expect(matchPackage(t.store, pkg).find((f) => f.id === 'CVE-2008-7220')?.kev).toBeUndefined()
      const status = advisoryStatus(t.store).exploit
      expect(status).toEqual({ epss: 2, kev: 1, epssDate: '2024-05-01T00:00:00+0000', kevDate: '2024-05-01T15:00:00.000Z' })
    } finally {
      await t.done()
    }
  })
})

describe.skipIf(!HAS_SHARED)('stale records', () => {
  it('an older copy of a record does not replace a newer one', async () => {
    const rec = JSON.parse(readFileSync(sharedPath('advisories/osv/pypi/PYSEC-2021-108.json'), 'utf8')) as { modified: string; summary?: string }
    const t = tempStore()
    try {
      const file = join(work, 'PYSEC-2021-108.json')
      writeFileSync(file, JSON.stringify(rec))
      await importFeeds(t.store, [file])
      const newer = rec.modified
      writeFileSync(file, JSON.stringify({ ...rec, modified: '2020-01-01T00:00:00Z', summary: 'old text' }))
      const stale = await importFeeds(t.store, [file])
      expect([stale.changed, stale.unchanged, stale.delta.changed]).toEqual([0, 1, []])
      expect(readRecord(t.store, 'PYSEC-2021-108')?.modified).toBe(newer)
    } finally {
      await t.done()
    }
  })
})
