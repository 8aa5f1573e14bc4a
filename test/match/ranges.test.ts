import { describe, expect, it } from 'vitest'
import { importRecords, matchPackage } from '../../src/match/index.js'
import type { AdvisoryRecord, AffectedRange } from '../../src/match/model.js'
import { langPkg, osPkg, tempStore } from '../feeds/helpers.js'

/** OSV range semantics (ossf.github.io/osv-schema "Evaluation"), one record per scenario. */
function rec(id: string, ecosystem: string, name: string, ranges: AffectedRange[], versions: string[] = []): AdvisoryRecord {
  return { key: id, id, aliases: [], cvss: [], source: 'osv', affected: [{ ecosystem, name, ranges, versions }] }
}

describe('OSV range evaluation', () => {
  const t = tempStore()
  importRecords(t.store, [
    rec('T-FIXED', 'PyPI', 'pkg-a', [{ type: 'ECOSYSTEM', events: [{ introduced: '1.0' }, { fixed: '1.5' }, { introduced: '2.0' }, { fixed: '2.0.3' }] }]),
    rec('T-LAST', 'npm', 'pkg-b', [{ type: 'SEMVER', events: [{ introduced: '0' }, { last_affected: '3.1.0' }] }]),
    rec('T-LIMIT', 'npm', 'pkg-c', [{ type: 'SEMVER', events: [{ introduced: '1.0.0' }, { limit: '1.4.0' }] }]),
    rec('T-UNSORTED', 'Go', 'example.com/mod', [{ type: 'SEMVER', events: [{ fixed: '1.2.0' }, { introduced: '0' }] }]),
    rec('T-VERSIONS', 'PyPI', 'pkg-d', [], ['0.9', '1.1rc1']),
    rec('T-DEB', 'Debian:12', 'openssl', [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u1' }] }]),
    rec('T-UPSTREAM', 'OSS-Fuzz', 'openssl', [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }]),
  ])

  const ids = (p: Parameters<typeof matchPackage>[1]) => matchPackage(t.store, p).map((f) => f.id)

  it('introduced/fixed pairs are half-open and repeatable', () => {
    expect(ids(langPkg('PyPI', 'pkg-a', '0.9'))).toEqual([])
    expect(ids(langPkg('PyPI', 'pkg-a', '1.0'))).toEqual(['T-FIXED'])
    expect(ids(langPkg('PyPI', 'Pkg_A', '1.4.9'))).toEqual(['T-FIXED'])
    expect(ids(langPkg('PyPI', 'pkg-a', '1.5'))).toEqual([])
    expect(ids(langPkg('PyPI', 'pkg-a', '2.0.2'))).toEqual(['T-FIXED'])
    expect(ids(langPkg('PyPI', 'pkg-a', '2.0.3'))).toEqual([])
  })

  it('last_affected is inclusive', () => {
    expect(ids(langPkg('npm', 'pkg-b', '3.1.0'))).toEqual(['T-LAST'])
    expect(ids(langPkg('npm', 'pkg-b', '3.1.1'))).toEqual([])
  })

  it('limit bounds an open range', () => {
    expect(ids(langPkg('npm', 'pkg-c', '1.3.9'))).toEqual(['T-LIMIT'])
    expect(ids(langPkg('npm', 'pkg-c', '1.4.0'))).toEqual([])
  })

  it('events are evaluated in version order, and Go versions with or without v meet', () => {
    expect(ids(langPkg('Go', 'example.com/mod', 'v1.1.9'))).toEqual(['T-UNSORTED'])
    expect(ids(langPkg('Go', 'example.com/mod', 'v1.2.0'))).toEqual([])
  })

  it('explicit versions lists match exactly', () => {
    expect(ids(langPkg('PyPI', 'pkg-d', '1.1rc1'))).toEqual(['T-VERSIONS'])
    expect(ids(langPkg('PyPI', 'pkg-d', '1.0'))).toEqual([])
  })

  it('OS packages match their release by source name, never upstream ecosystems', () => {
    expect(ids(osPkg('Debian:12', 'libssl3', '3.0.9-1', 'openssl'))).toEqual(['T-DEB'])
    expect(ids(osPkg('Debian:12.4', 'libssl3', '3.0.11-1~deb12u1', 'openssl'))).toEqual([])
    expect(ids(osPkg('Debian:11', 'libssl3', '3.0.9-1', 'openssl'))).toEqual([])
  })

  it('normalises release spellings on both sides', async () => {
    const { storeKey } = await import('../../src/match/index.js')
    expect(storeKey('Ubuntu:22.04:LTS', 'openssl')).toBe(storeKey('Ubuntu:22.04', 'openssl'))
    expect(storeKey('Alpine:3.19.1', 'musl')).toBe('Alpine:v3.19\0musl')
    expect(storeKey('Debian:12.5', 'glibc')).toBe('Debian:12\0glibc')
    expect(storeKey('pypi', 'Flask_Cors')).toBe('PyPI\0flask-cors')
  })

  it('an unparsable installed version is not affected (and does not throw)', () => {
    expect(ids(langPkg('npm', 'pkg-b', 'not-a-version'))).toEqual([])
  })

  it('matchInventory equals matchPackage per package', async () => {
    const { matchInventory } = await import('../../src/match/index.js')
    const pkgs = [langPkg('PyPI', 'pkg-a', '1.0'), langPkg('npm', 'pkg-b', '1.0.0'), osPkg('Debian:12', 'libssl3', '3.0.9-1', 'openssl')]
    expect(matchInventory(t.store, { packages: pkgs })).toEqual(pkgs.flatMap((p) => matchPackage(t.store, p)))
    await t.done()
  })
})
