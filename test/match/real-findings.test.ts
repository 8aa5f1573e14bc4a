import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { osvToItems } from '../../src/feeds/osv.js'
import { importFeeds, matchPackage } from '../../src/match/index.js'
import type { Package } from '../../src/types.js'
import { langPkg, osPkg, tempStore } from '../feeds/helpers.js'

/**
 * Issue 18: each class of wrong finding, shown on the real record that exposed it. A fresh
 * store per class holds only the files named, so each answer depends on those records alone.
 */
noteSharedMissing('findings on real advisory records')

function storeOf(...paths: string[]) {
  const t = tempStore()
  const ready = importFeeds(t.store, paths.map((p) => sharedPath(p)))
  const ids = async (pkg: Package) => {
    await ready
    return matchPackage(t.store, pkg).map((f) => f.id)
  }
  return { t, ready, ids }
}

describe.skipIf(!HAS_SHARED)('OSV ranges whose intervals touch', () => {
  const { t, ready, ids } = storeOf('advisories/osv/pypi/PYSEC-2022-42972.json', 'advisories/osv/pypi/PYSEC-2023-72.json')
  beforeAll(() => ready)
  afterAll(() => t.done())

  it('PYSEC-2022-42972 (apache-iotdb [0.13.0, 0.14.0rc1) listed before [0.12.2, 0.13.0)): 0.12.2 up to the second fix', async () => {
    expect(await ids(langPkg('PyPI', 'apache-iotdb', '0.12.1'))).toEqual([])
    for (const v of ['0.12.2', '0.12.6', '0.13.0', '0.13.3']) expect(await ids(langPkg('PyPI', 'apache-iotdb', v))).toEqual(['PYSEC-2022-42972'])
    expect(await ids(langPkg('PyPI', 'apache-iotdb', '0.14.0'))).toEqual([])
  })

  it('PYSEC-2023-72 (pyspark [0, 3.1.1), [3.2.0, 3.2.2), [3.1.1, 3.2.0)): everything below 3.2.2', async () => {
    for (const v of ['3.0.3', '3.1.1', '3.1.3', '3.2.0', '3.2.1']) expect(await ids(langPkg('PyPI', 'pyspark', v))).toEqual(['PYSEC-2023-72'])
    expect(await ids(langPkg('PyPI', 'pyspark', '3.2.2'))).toEqual([])
  })
})

describe.skipIf(!HAS_SHARED)('OSV withdrawn', () => {
  const { t, ready, ids } = storeOf('advisories/osv/misc/PyPI/PYSEC-2019-156__aquasecurity_trivy-db.json', 'advisories/osv/misc/PyPI/PYSEC-2023-73__aquasecurity_trivy-db.json')
  beforeAll(() => ready)
  afterAll(() => t.done())

  it('PYSEC-2019-156 (withdrawn 3001-06-06) is not withdrawn yet: scipy 0.12.0 is affected', async () => {
    expect(await ids(langPkg('PyPI', 'scipy', '0.12.0'))).toEqual(['PYSEC-2019-156'])
    expect(await ids(langPkg('PyPI', 'scipy', '0.12.1'))).toEqual([])
  })

  it('PYSEC-2019-156 is withdrawn by an import after 3001-06-06', () => {
    const json: unknown = JSON.parse(readFileSync(sharedPath('advisories/osv/misc/PyPI/PYSEC-2019-156__aquasecurity_trivy-db.json'), 'utf8'))
    const [item] = [...osvToItems(json, 'PYSEC-2019-156.json', Date.parse('3001-06-06T10:37:01Z'))]
    expect(item?.kind === 'record' && item.record.withdrawn).toBe('3001-06-06T10:37:00Z')
  })

  it('PYSEC-2023-73 (withdrawn 2023-06-06, redis from 0) stays withdrawn', async () => {
    expect(await ids(langPkg('PyPI', 'redis', '4.5.0'))).toEqual([])
  })
})

describe.skipIf(!HAS_SHARED)('a malformed CVSS vector next to a score', () => {
  const { t, ready } = storeOf('advisories/npm-nodejs-security-wg/vuln/npm/504.json')
  beforeAll(() => ready)
  afterAll(() => t.done())

  it('security-wg 504 (statics-server, vector C:H/I:U/A:U, cvss_score 7.5) rates HIGH from the score and says so', () => {
    const [f] = matchPackage(t.store, langPkg('npm', 'statics-server', '0.0.9'))
    expect(f?.id).toBe('NSWG-ECO-504')
    expect(f?.severity).toBe('HIGH')
    expect(f?.severitySource).toBe('cvss-score')
    expect(f?.cvss).toEqual([{ version: '3.0', vector: 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:U/A:U', score: 7.5, feedScore: true }])
  })
})

describe.skipIf(!HAS_SHARED)('Alpine secdb ids', () => {
  const { t, ready } = storeOf('advisories/alpine-secdb/alpinelinux-alpine-secdb/v3.10/main.json', 'advisories/alpine-secdb/alpinelinux-alpine-secdb/v3.10/community.json')
  beforeAll(() => ready)
  afterAll(() => t.done())

  it('CVE_2019-2426 (v3.10 community, openjdk7 7.211.2.6.17-r0) is CVE-2019-2426', () => {
    const ids = matchPackage(t.store, osPkg('Alpine:v3.10', 'openjdk7', '7.201.2.6.16-r0')).map((f) => f.id)
    expect(ids).toContain('CVE-2019-2426')
    expect(ids.filter((id) => id.includes('2019-2426'))).toEqual(['CVE-2019-2426'])
  })

  it('"CVE-2016-6258 XSA-182" (v3.10 main, xen 4.7.0-r0) is one finding, the CVE aliased by the XSA', () => {
    const findings = matchPackage(t.store, osPkg('Alpine:v3.10', 'xen', '4.6.3-r0'))
    expect(findings.map((f) => f.id).filter((id) => id === 'XSA-182' || id === 'XSA-196')).toEqual([])
    expect(findings.find((f) => f.id === 'CVE-2016-6258')?.aliases).toEqual(['XSA-182'])
    // One XSA naming two CVEs stays two vulnerabilities.
    expect(findings.filter((f) => f.aliases.includes('XSA-196')).map((f) => f.id)).toEqual(['CVE-2016-9377', 'CVE-2016-9378'])
    // Entries with no CVE (`XSA-207`; `CVE-????-?????  XSA-295`, 4.12.1-r0) stand under the XSA.
    expect(findings.map((f) => f.id)).toContain('XSA-207')
    expect(matchPackage(t.store, osPkg('Alpine:v3.10', 'xen', '4.12.0-r2')).map((f) => f.id)).toEqual(['XSA-295'])
  })
})

describe.skipIf(!HAS_SHARED)('npm security-wg advisories', () => {
  const dir = 'advisories/npm-nodejs-security-wg/vuln/npm'
  const { t, ready, ids } = storeOf(`${dir}/357.json`, `${dir}/496.json`, `${dir}/307.json`, `${dir}/49.json`, `${dir}/8.json`)
  beforeAll(() => ready)
  afterAll(() => t.done())

  it('357 (mqtt vulnerable >=2.0.0, patched >=2.15.0): patched versions are not reported', async () => {
    expect(await ids(langPkg('npm', 'mqtt', '2.14.9'))).toEqual(['NSWG-ECO-357'])
    expect(await ids(langPkg('npm', 'mqtt', '2.15.0'))).toEqual([])
    expect(await ids(langPkg('npm', 'mqtt', '4.3.7'))).toEqual([])
    expect(matchPackage(t.store, langPkg('npm', 'mqtt', '2.0.0'))[0]?.fixedVersions).toEqual(['2.15.0'])
  })

  it('496 (module_name jQuery, <3.4.0) and 307 (Morris.js) match the lower-case npm package', async () => {
    expect(await ids(langPkg('npm', 'jquery', '3.3.1'))).toEqual(['NSWG-ECO-496'])
    expect(await ids(langPkg('npm', 'jquery', '3.4.0'))).toEqual([])
    expect(await ids(langPkg('npm', 'morris.js', '0.5.0'))).toEqual(['NSWG-ECO-307'])
  })

  it('49 (mapbox.js "< 2.1.7 > 2.0.0"): the lower bound > 2.0.0 leaves 2.0.0 out', async () => {
    expect(await ids(langPkg('npm', 'mapbox.js', '1.6.4'))).toEqual(['NSWG-ECO-49'])
    expect(await ids(langPkg('npm', 'mapbox.js', '2.0.0'))).toEqual([])
    expect(await ids(langPkg('npm', 'mapbox.js', '2.0.1'))).toEqual(['NSWG-ECO-49'])
    expect(await ids(langPkg('npm', 'mapbox.js', '2.1.7'))).toEqual([])
  })

  it('8 (express "<3.11 || >= 4 <4.5", patched ">=3.11 <4 || >=4.5"): both spans, fixed at 3.11.0 and 4.5.0', async () => {
    expect(matchPackage(t.store, langPkg('npm', 'express', '3.10.9')).map((f) => [f.id, f.fixedVersions])).toEqual([['NSWG-ECO-8', ['3.11.0', '4.5.0']]])
    expect(await ids(langPkg('npm', 'express', '3.21.2'))).toEqual([])
    expect(await ids(langPkg('npm', 'express', '4.4.9'))).toEqual(['NSWG-ECO-8'])
    expect(await ids(langPkg('npm', 'express', '4.5.0'))).toEqual([])
  })
})

describe.skipIf(!HAS_SHARED)('where Vigil differs from other scanners on purpose (docs/matching.md)', () => {
  const { t, ready, ids } = storeOf('advisories/npm-nodejs-security-wg/vuln/npm/496.json', 'advisories/osv/misc/npm/GHSA-75v8-2h7p-7m2m__aquasecurity_trivy-db.json')
  beforeAll(() => ready)
  afterAll(() => t.done())

  it('a pre-release before the fix is affected: jquery 3.4.0-rc.1 under 496 "<3.4.0"', async () => {
    expect(await ids(langPkg('npm', 'jquery', '3.4.0-rc.1'))).toEqual(['NSWG-ECO-496'])
  })

  it('a GHSA range with no fix stays open past last_known_affected_version_range: formidable 2.1.5 under GHSA-75v8-2h7p-7m2m', async () => {
    expect(await ids(langPkg('npm', 'formidable', '2.1.5'))).toEqual(['GHSA-75v8-2h7p-7m2m'])
    expect(await ids(langPkg('npm', 'formidable', '2.0.1'))).toEqual([])
  })
})
