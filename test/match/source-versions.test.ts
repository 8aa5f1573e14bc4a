import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { XMLParser } from 'fast-xml-parser'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { parseDpkgStatus } from '../../src/analyzers/dpkg.js'
import { advisoryVersion, importRecords, matchPackage } from '../../src/match/index.js'
import type { AdvisoryRecord } from '../../src/match/model.js'
import { parseSbom } from '../../src/sbom/read.js'
import type { Package } from '../../src/types.js'
import { tempStore } from '../feeds/helpers.js'

/**
 * Distro advisories name source packages at source versions. The packages here are real: dpkg
 * stanzas from claircore's Ubuntu 18.04 status file, components of Syft's postgres (Debian 9) SBOM
 * and of Trivy's CentOS 7 SBOM. No advisory in ../shared names their sources, so each advisory is
 * a tracker-style entry written here: the source fixed one revision above what is installed.
 */
noteSharedMissing('source-version matching')

function fixedIn(ecosystem: string, source: string, fixed: string): AdvisoryRecord {
  const key = `${ecosystem}/${source}/CVE-TEST-${source}`
  return { key, id: `CVE-TEST-${source}`, aliases: [], cvss: [], source: 'test', affected: [{ ecosystem, name: source, versions: [], ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }] }] }
}

describe.skipIf(!HAS_SHARED)('OS packages are compared by their source version', () => {
  const t = tempStore()
  afterAll(() => t.done())
  importRecords(t.store, [
    fixedIn('Ubuntu:18.04', 'util-linux', '2.31.1-0.4ubuntu3.7'),
    fixedIn('Ubuntu:18.04', 'gcc-defaults', '1.176ubuntu2.4'),
    fixedIn('Debian:9', 'util-linux', '2.29.2-1+deb9u2'),
    fixedIn('Debian:9', 'hostname', '3.18+deb9u1'),
  ])
  const ids = (pkg: Package) => matchPackage(t.store, pkg).map((f) => f.id)

  const status = () => {
    const { packages = [] } = parseDpkgStatus(readFileSync(sharedPath('pkgdb/dpkg/claircore/texlive.status')), 'var/lib/dpkg/status')
    return new Map(packages.map((p) => [p.name, { ...p, ecosystem: 'Ubuntu:18.04' }]))
  }

  it('bsdutils 1:2.31.1-0.4ubuntu3.6 (binary-only epoch) is util-linux 2.31.1-0.4ubuntu3.6, below the fix', () => {
    const bsdutils = status().get('bsdutils')!
    expect([bsdutils.version, bsdutils.source]).toEqual(['1:2.31.1-0.4ubuntu3.6', { name: 'util-linux', version: '2.31.1-0.4ubuntu3.6' }])
    expect(advisoryVersion(bsdutils)).toBe('2.31.1-0.4ubuntu3.6')
    expect(ids(bsdutils)).toEqual(['CVE-TEST-util-linux'])
    // The finding shows what is installed.
    expect(matchPackage(t.store, bsdutils)[0]?.installed).toBe('1:2.31.1-0.4ubuntu3.6')
  })

  it('cpp 4:7.4.0-1ubuntu2.3 is gcc-defaults 1.176ubuntu2.3, below the fix', () => {
    expect(ids(status().get('cpp')!)).toEqual(['CVE-TEST-gcc-defaults'])
  })

  it('a package at its source\'s fixed version is not reported', () => {
    const at = importRecords(t.store, [fixedIn('Ubuntu:18.04', 'util-linux', '2.31.1-0.4ubuntu3.6')])
    expect(at.changed).toBe(1)
    expect(ids(status().get('bsdutils')!)).toEqual([])
    importRecords(t.store, [fixedIn('Ubuntu:18.04', 'util-linux', '2.31.1-0.4ubuntu3.7')])
  })

  it('Syft SBOM properties: bsdutils 1:2.29.2-1+deb9u1 from util-linux, hostname 3.18+b1 (binNMU) from hostname 3.18', () => {
    // Syft's postgres-stretch SBOM, its CycloneDX XML components as CycloneDX JSON. The purls' `upstream`
    // qualifier is dropped so that the `syft:metadata:*` properties alone carry the source.
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(sharedPath('e2e/osv-scanner/cmd/osv-scanner/scan/source/testdata/sbom-insecure/postgres-stretch.cdx.xml'), 'utf8'))
    const all = [xml.bom.components.component].flat() as { name: string; version: string; purl: string; properties?: { property: { name: string; '#text': unknown }[] } }[]
    const components = all.filter((c) => c.name === 'bsdutils' || c.name === 'hostname').map((c) => ({
      type: 'library', name: c.name, version: String(c.version), purl: c.purl.replace(/&upstream=[^&]*/, ''),
      properties: [c.properties?.property ?? []].flat().map((p) => ({ name: p.name, value: String(p['#text']) })),
    }))
    expect(components.map((c) => c.purl.includes('upstream'))).toEqual([false, false])
    const doc = { bomFormat: 'CycloneDX', specVersion: '1.4', components }
    const { inventory } = parseSbom(JSON.stringify(doc), { name: 'postgres-stretch.cdx.json' })
    const byName = new Map(inventory.packages.map((p) => [p.name, { ...p, ecosystem: 'Debian:9' }]))
    expect(byName.get('bsdutils')?.source).toEqual({ name: 'util-linux', version: '2.29.2-1+deb9u1' })
    expect(byName.get('hostname')?.source).toEqual({ name: 'hostname', version: '3.18' })
    expect(ids(byName.get('bsdutils')!)).toEqual(['CVE-TEST-util-linux'])
    expect(ids(byName.get('hostname')!)).toEqual(['CVE-TEST-hostname'])
  })

  it('Trivy SBOM properties: openssl-libs 1:1.0.2k-16.el7 from openssl (SrcEpoch 1) compares as 1:1.0.2k-16.el7', () => {
    const { inventory } = parseSbom(readFileSync(sharedPath('e2e/trivy-integration/testdata/fixtures/sbom/centos-7-cyclonedx.json')))
    const ssl = inventory.packages.find((p) => p.name === 'openssl-libs')!
    expect(ssl.source).toEqual({ name: 'openssl', version: '1:1.0.2k-16.el7' })
    expect(advisoryVersion(ssl)).toBe('1:1.0.2k-16.el7')
  })

  it('an rpm source rpm without epoch takes the binary epoch', () => {
    const pkg: Package = { ecosystem: 'AlmaLinux:8', name: 'openssl-libs', version: '1:1.1.1k-9.el8_7', epoch: 1, source: { name: 'openssl', version: '1.1.1k-9.el8_7' }, purl: '', path: '', kind: 'os' }
    expect(advisoryVersion(pkg)).toBe('1:1.1.1k-9.el8_7')
  })
})
