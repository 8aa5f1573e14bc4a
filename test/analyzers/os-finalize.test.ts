import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { finalizeInventory, osvEcosystem } from '../../src/sbom/finalize.js'
import { purlWithoutQualifiers } from '../../src/sbom/purl.js'
import type { OsInfo, Package } from '../../src/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'

noteSharedMissing('Trivy golden reports')

/**
 * Our OS-package purls against Trivy's own, from Trivy's integration goldens: every OS package
 * of every golden, rebuilt the way our analyzers emit it (full version string, epoch, arch,
 * database path), finalized, and compared without qualifiers (as DESIGN.md says we compare).
 */

const GOLDENS = 'e2e/trivy-integration/testdata'
// Trivy's OS family names → os-release IDs (what our OsInfo.family holds).
const FAMILY: Record<string, string> = { redhat: 'rhel', alma: 'almalinux', amazon: 'amzn', oracle: 'ol', 'cbl-mariner': 'mariner' }
const DB_PATH: Record<string, string> = { deb: 'var/lib/dpkg/status', apk: 'lib/apk/db/installed', rpm: 'var/lib/rpm/Packages' }

interface GoldenVuln {
  PkgName: string
  InstalledVersion: string
  PkgIdentifier?: { PURL?: string }
}
interface GoldenPackage {
  Name: string
  Version: string
  Release?: string
  Epoch?: number
  Identifier?: { PURL?: string }
}
interface Golden {
  Metadata?: { OS?: { Family: string; Name: string } }
  Results?: Array<{ Class?: string; Vulnerabilities?: GoldenVuln[]; Packages?: GoldenPackage[] }>
}

/** A golden's OS packages as (name, full version, Trivy's purl), from the package list and the findings. */
function goldenPackages(result: NonNullable<Golden['Results']>[number]): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = []
  for (const p of result.Packages ?? []) {
    const full = `${p.Epoch ? `${p.Epoch}:` : ''}${p.Version}${p.Release ? `-${p.Release}` : ''}`
    if (p.Identifier?.PURL) out.push([p.Name, full, p.Identifier.PURL])
  }
  for (const v of result.Vulnerabilities ?? []) if (v.PkgIdentifier?.PURL) out.push([v.PkgName, v.InstalledVersion, v.PkgIdentifier.PURL])
  return out
}

describe.skipIf(!HAS_SHARED)('OS package purls match Trivy', () => {
  it('every OS package in Trivy integration goldens', () => {
    let compared = 0
    const seen = new Set<string>()
    const namespaces = new Set<string>()
    const mismatches: string[] = []
    const files = readdirSync(sharedPath(GOLDENS)).filter((f) => f.endsWith('.json.golden'))
    for (const file of files) {
      const golden = JSON.parse(readFileSync(sharedPath(GOLDENS, file), 'utf8')) as Golden
      const tos = golden.Metadata?.OS
      if (!tos?.Family || tos.Family === 'none') continue
      const family = FAMILY[tos.Family] ?? tos.Family
      const os: OsInfo = { family, version: tos.Name, ecosystem: osvEcosystem(family, tos.Name) }
      for (const result of golden.Results ?? []) {
        if (result.Class !== 'os-pkgs') continue
        for (const [name, version, purl] of goldenPackages(result)) {
          const type = purl.slice(4, purl.indexOf('/'))
          if (!DB_PATH[type] || seen.has(`${file} ${purl}`)) continue
          seen.add(`${file} ${purl}`)
          const colon = version.indexOf(':')
          const epoch = colon > 0 ? Number(version.slice(0, colon)) : undefined
          const arch = new URL(`x:?${purl.split('?')[1] ?? ''}`).searchParams.get('arch') ?? undefined
          const pkg: Package = {
            ecosystem: '', name, version, purl: '', path: DB_PATH[type]!, kind: 'os',
            ...(epoch ? { epoch } : {}), ...(arch ? { arch } : {}),
          }
          const [ours] = finalizeInventory([pkg], os, [])
          compared++
          namespaces.add(purl.slice(4, purl.indexOf('/', purl.indexOf('/') + 1)))
          if (purlWithoutQualifiers(ours!.purl) !== purlWithoutQualifiers(purl)) mismatches.push(`${file}: ${ours!.purl} ≠ ${purl}`)
        }
      }
    }
    console.log(`purls compared with Trivy goldens: ${compared}, mismatches: ${mismatches.length}`)
    expect(mismatches).toEqual([])
    expect(compared).toBeGreaterThan(50)
    expect([...namespaces].sort()).toEqual(['apk/alpine', 'deb/debian', 'deb/ubuntu', 'rpm/alma', 'rpm/amazon', 'rpm/cbl-mariner', 'rpm/centos', 'rpm/opensuse', 'rpm/oracle', 'rpm/photon', 'rpm/redhat', 'rpm/rocky'])
  })
})

describe('finalizeInventory', () => {
  const base: Package = { ecosystem: '', name: 'libgcc1', version: '1:5.1.1-12ubuntu1', epoch: 1, arch: 'amd64', purl: '', path: 'var/lib/dpkg/status', kind: 'os' }

  it('deb: epoch is a qualifier, the version has none; Ubuntu namespace', () => {
    const os: OsInfo = { family: 'ubuntu', version: '22.04', ecosystem: 'Ubuntu:22.04' }
    const [p] = finalizeInventory([base], os, [])
    expect(p).toMatchObject({ ecosystem: 'Ubuntu:22.04', purl: 'pkg:deb/ubuntu/libgcc1@5.1.1-12ubuntu1?arch=amd64&distro=ubuntu-22.04&epoch=1' })
    expect(base.purl).toBe('') // inputs are not changed
  })

  it('apk: distro is the release; ecosystem is the v-branch', () => {
    const os: OsInfo = { family: 'alpine', version: '3.19.1', ecosystem: osvEcosystem('alpine', '3.19.1') }
    const apk: Package = { ecosystem: '', name: 'musl', version: '1.2.4-r2', arch: 'x86_64', purl: '', path: 'lib/apk/db/installed', kind: 'os' }
    expect(finalizeInventory([apk], os, [])[0]).toMatchObject({ ecosystem: 'Alpine:v3.19', purl: 'pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=3.19.1' })
  })

  it('rpm: vendor namespace, epoch and modularity label qualifiers', () => {
    const os: OsInfo = { family: 'rhel', version: '8.9', ecosystem: 'Red Hat' }
    const rpm: Package = { ecosystem: '', name: 'nodejs', version: '1:18.19.0-1.module+el8.9.0+20473+c4e3d824', epoch: 1, release: '1.module+el8.9.0+20473+c4e3d824', arch: 'x86_64', modularityLabel: 'nodejs:18:8090020231218110224:a75119d5', purl: '', path: 'usr/lib/sysimage/rpm/rpmdb.sqlite', kind: 'os' }
    const [p] = finalizeInventory([rpm], os, [])
    expect(purlWithoutQualifiers(p!.purl)).toBe(purlWithoutQualifiers('pkg:rpm/redhat/nodejs@18.19.0-1.module%2Bel8.9.0%2B20473%2Bc4e3d824'))
    expect(p!.purl).toContain('epoch=1')
    expect(p!.purl).toContain('modularitylabel=nodejs%3A18%3A8090020231218110224%3Aa75119d5')
  })

  it('OSV ecosystems per distribution', () => {
    expect(osvEcosystem('debian', '12')).toBe('Debian:12')
    expect(osvEcosystem('debian', '')).toBe('Debian')
    expect(osvEcosystem('alpine', '3.20.0_alpha20240329')).toBe('Alpine:v3.20')
    expect(osvEcosystem('ubuntu', '22.04')).toBe('Ubuntu:22.04')
    expect(osvEcosystem('almalinux', '9.3')).toBe('AlmaLinux:9')
    expect(osvEcosystem('rocky', '9.3')).toBe('Rocky Linux:9')
    expect(osvEcosystem('mariner', '2.0')).toBe('Mariner:2.0')
    expect(osvEcosystem('mariner', '2.0.20220226')).toBe('Mariner:2.0')
    expect(osvEcosystem('sles', '15.5')).toBe('SUSE:Linux Enterprise Server 15 SP5')
    expect(osvEcosystem('opensuse-leap', '15.5')).toBe('openSUSE:Leap 15.5')
    expect(osvEcosystem('wolfi', '20230201')).toBe('Wolfi')
  })

  it('a language package is osOwned only when an OS package owns its path', () => {
    const lang: Package = { ecosystem: 'PyPI', name: 'pyyaml', version: '6.0', purl: 'pkg:pypi/pyyaml@6.0', path: 'usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA', kind: 'lang' }
    const other: Package = { ...lang, path: 'opt/venv/lib/python3.11/site-packages/PyYAML-6.0.dist-info/METADATA' }
    const out = finalizeInventory([lang, other], undefined, [lang.path], { includeOsOwned: true })
    expect(out.map((p) => p.osOwned ?? false)).toEqual([true, false])
  })

  it('drops OS-owned language packages by default, as Trivy does', () => {
    const lang: Package = { ecosystem: 'PyPI', name: 'pyyaml', version: '6.0', purl: 'pkg:pypi/pyyaml@6.0', path: 'usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA', kind: 'lang' }
    const other: Package = { ...lang, path: 'opt/venv/lib/python3.11/site-packages/PyYAML-6.0.dist-info/METADATA' }
    const out = finalizeInventory([lang, other], undefined, [lang.path])
    expect(out.map((p) => p.path)).toEqual([other.path])
  })
})
