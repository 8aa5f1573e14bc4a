import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { importFeeds, matchPackage, type ImportReport } from '../../src/match/index.js'
import { advisoryStatus } from '../../src/store/advisories.js'
import { langPkg, osPkg, tempStore } from './helpers.js'

noteSharedMissing('real feed import')

describe.skipIf(!HAS_SHARED)('real feeds', () => {
  const t = tempStore()
  let report: ImportReport
  beforeAll(async () => {
    report = await importFeeds(t.store, [
      sharedPath('advisories/osv/go'),
      sharedPath('advisories/osv/pypi'),
      sharedPath('advisories/alpine-secdb/alpinelinux-alpine-secdb'),
      sharedPath('advisories/debian-tracker'),
    ])
  }, 120_000)
  afterAll(() => t.done())

  it('imports every Go and PyPI record', () => {
    expect(report.sources['osv-json']).toBe(4291 + 2661)
    const status = advisoryStatus(t.store)
    expect(status.sources.osv?.records).toBeGreaterThanOrEqual(4291 + 2661 - 50) // withdrawn records are not stored
    expect(status.ecosystems.Go?.advisories).toBeGreaterThan(4000)
    expect(status.ecosystems.PyPI?.advisories).toBeGreaterThan(2500)
    expect(report.errors.filter((e) => e.code !== 'ERR_FEED_RANGE_UNSUPPORTED')).toEqual([])
  })

  it('matches a Go module inside and outside a GO- range', () => {
    // GO-2020-0001: github.com/gin-gonic/gin introduced 0, fixed 1.6.0
    const hit = matchPackage(t.store, langPkg('Go', 'github.com/gin-gonic/gin', 'v1.5.0')).map((f) => f.id)
    expect(hit).toContain('GO-2020-0001')
    const fixed = matchPackage(t.store, langPkg('Go', 'github.com/gin-gonic/gin', 'v1.6.0')).map((f) => f.id)
    expect(fixed).not.toContain('GO-2020-0001')
  })

  it('matches the Go standard library by toolchain version', () => {
    const ids = matchPackage(t.store, langPkg('Go', 'stdlib', 'go1.19')).map((f) => f.id)
    expect(ids.length).toBeGreaterThan(10)
  })

  it('matches PyPI by normalised name', () => {
    const ids = matchPackage(t.store, langPkg('PyPI', 'Django', '3.2.0')).map((f) => f.id)
    expect(ids.length).toBeGreaterThan(5)
    expect(ids.every((id) => id.startsWith('PYSEC-'))).toBe(true)
  })

  it('matches Alpine packages by origin within their branch only', () => {
    // v3.10 main: apache2 2.4.41-r0 fixes CVE-2019-10081
    const vuln = matchPackage(t.store, osPkg('Alpine:v3.10', 'apache2-utils', '2.4.39-r0', 'apache2')).map((f) => f.id)
    expect(vuln).toContain('CVE-2019-10081')
    expect(matchPackage(t.store, osPkg('Alpine:v3.10', 'apache2', '2.4.41-r0')).map((f) => f.id)).not.toContain('CVE-2019-10081')
    expect(matchPackage(t.store, osPkg('Alpine:v3.99', 'apache2', '2.4.39-r0'))).toEqual([])
  })

  it('reads Debian tracker states', () => {
    // prototypejs CVE-2008-7220 is fixed in 1.6.0.2-1 on stretch (Debian 9), urgency high
    const f = matchPackage(t.store, osPkg('Debian:9', 'libjs-prototype', '1.6.0-1', 'prototypejs')).find((x) => x.id === 'CVE-2008-7220')
    expect(f?.state).toBe('fixed')
    expect(f?.fixedVersions).toEqual(['1.6.0.2-1'])
    expect(f?.severity).toBe('HIGH')
    expect(f?.severitySource).toBe('vendor')
  })

  it('imports nodejs security-wg npm advisories as SEMVER ranges', async () => {
    const report = await importFeeds(t.store, [sharedPath('advisories/npm-nodejs-security-wg/vuln/npm')])
    expect(report.sources['nodejs-wg']).toBeGreaterThan(460)
    // advisory 1: bassmaster vulnerable <=1.5.1, patched >=1.5.2, CVSS 3.0 6.5
    const hit = matchPackage(t.store, langPkg('npm', 'bassmaster', '1.5.1')).find((f) => f.id === 'NSWG-ECO-1')
    expect([hit?.aliases, hit?.severity, hit?.cvss[0]?.score]).toEqual([['CVE-2014-7205'], 'MEDIUM', 6.5])
    expect(matchPackage(t.store, langPkg('npm', 'bassmaster', '1.5.2')).map((f) => f.id)).not.toContain('NSWG-ECO-1')
  })

  it('re-importing unchanged data yields an empty delta', async () => {
    const again = await importFeeds(t.store, [sharedPath('advisories/osv/go')])
    expect(again.added + again.changed + again.withdrawn).toBe(0)
    expect(again.delta.packageKeys).toEqual([])
  }, 60_000)

  it('imports the assorted real OSV records (many ecosystems) without aborting', async () => {
    const report = await importFeeds(t.store, [sharedPath('advisories/osv/misc'), sharedPath('advisories/osv/osv.dev-apitester-snapshots/records')])
    expect(report.added + report.changed + report.unchanged).toBeGreaterThan(150)
    // DSA-3029-1 (nginx) is a real Debian OSV record keyed by release
    const dsa = matchPackage(t.store, osPkg('Debian:7', 'nginx', '1.2.1-2.2+wheezy2', 'nginx')).map((f) => f.id)
    expect(dsa).toContain('DSA-3029-1')
  })
})
