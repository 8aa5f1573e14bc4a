import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { VigilError } from '../../src/errors.js'
import { parseSbom, readSbomFile } from '../../src/sbom/read.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'

noteSharedMissing('SBOM reader on shipped CycloneDX/SPDX files')

const TRIVY = 'e2e/trivy-integration/testdata'
const OSV = 'e2e/osv-scanner/cmd/osv-scanner/scan/source/testdata/sbom-insecure'

function byName(pkgs: { name: string }[], name: string) {
  const hit = pkgs.find((p) => p.name === name)
  if (!hit) throw new Error(`no package ${name}`)
  return hit
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn()
  } catch (err) {
    expect(VigilError.is(err)).toBe(true)
    expect((err as VigilError).code).toBe(code)
    return
  }
  throw new Error(`expected ${code}, nothing was thrown`)
}

describe.skipIf(!HAS_SHARED)('reading shipped SBOMs', () => {
  it('Trivy CycloneDX 1.5 of centos-7: rpm packages, epoch, source rpm, layer, OS', async () => {
    const { inventory, format, specVersion, skipped } = await readSbomFile(sharedPath(TRIVY, 'fixtures/sbom/centos-7-cyclonedx.json'))
    expect([format, specVersion, skipped]).toEqual(['cyclonedx', '1.5', []])
    expect(inventory.packages).toHaveLength(2)
    expect(inventory.os).toEqual({ family: 'centos', version: '7.6.1810', ecosystem: 'Red Hat' })
    const ssl = byName(inventory.packages, 'openssl-libs')
    expect(ssl).toMatchObject({
      ecosystem: 'Red Hat',
      version: '1:1.0.2k-16.el7',
      epoch: 1,
      arch: 'x86_64',
      kind: 'os',
      source: { name: 'openssl', version: '1:1.0.2k-16.el7' },
      layer: 'sha256:ac9208207adaac3a48e54a4dc6b49c69e78c3072d2b3add7efdabf814db2133b',
      path: 'var/lib/rpm/rpmdb.sqlite',
    })
    expect(inventory.image.configDigest).toBe('sha256:f1cb7c7d58b73eac859c395882eec49d50651244e342cd6c68a5c7809785f427')
    expect(inventory.image.repoTags).toEqual(['ghcr.io/aquasecurity/trivy-test-images:centos-7'])
    expect(inventory.image.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
  })

  it('Trivy SPDX 2.2 of centos-7: the same two packages, layers from attributionTexts', async () => {
    const { inventory, format } = await readSbomFile(sharedPath(TRIVY, 'fixtures/sbom/centos-7-spdx.json'))
    expect(format).toBe('spdx')
    expect(inventory.packages.map((p) => p.name).sort()).toEqual(['bash', 'openssl-libs'])
    expect(inventory.os?.ecosystem).toBe('Red Hat')
    expect(byName(inventory.packages, 'openssl-libs')).toMatchObject({ version: '1:1.0.2k-16.el7', layer: 'sha256:ac9208207adaac3a48e54a4dc6b49c69e78c3072d2b3add7efdabf814db2133b' })
    expect(inventory.image.reference).toBe('integration/testdata/fixtures/images/centos-7.tar.gz')
  })

  it('Trivy CycloneDX with Debian and a gem: ecosystems Debian:10 and RubyGems, SrcName as source', async () => {
    const { inventory } = await readSbomFile(sharedPath(TRIVY, 'fixtures/sbom/fluentd-multiple-lockfiles-cyclonedx.json'))
    expect(inventory.packages).toHaveLength(3)
    expect(byName(inventory.packages, 'libidn2-0')).toMatchObject({ ecosystem: 'Debian:10', source: { name: 'libidn2', version: '2.0.5-1' }, kind: 'os' })
    expect(byName(inventory.packages, 'activesupport')).toMatchObject({ ecosystem: 'RubyGems', kind: 'lang', path: 'var/lib/gems/2.5.0/specifications/activesupport-6.0.2.1.gemspec' })
    expect(inventory.image.diffIds).toHaveLength(6)
  })

  it('Trivy CycloneDX 1.7 golden: 160 packages, 105 Debian and 55 RubyGems', async () => {
    const { inventory, skipped } = await readSbomFile(sharedPath(TRIVY, 'fluentd-multiple-lockfiles.cdx.json.golden'))
    expect(skipped).toEqual([])
    expect(inventory.packages).toHaveLength(160)
    expect(inventory.packages.filter((p) => p.ecosystem === 'Debian:10')).toHaveLength(105)
    expect(inventory.packages.filter((p) => p.ecosystem === 'RubyGems')).toHaveLength(55)
  })

  it('Maven and npm purls map to Maven group:artifact and npm names', async () => {
    const maven = (await readSbomFile(sharedPath(TRIVY, 'fixtures/sbom/license-cyclonedx.json'))).inventory
    expect(maven.packages.map((p) => `${p.ecosystem} ${p.name} ${p.version}`).sort()).toEqual([
      'Maven org.eclipse.sisu:org.eclipse.sisu.plexus 0.3.0.M1',
      'Maven org.ow2.asm:asm 9.5',
      'Maven org.slf4j:slf4j-api 2.0.11',
    ])
    expect(maven.os).toBeUndefined()
    const npm = (await readSbomFile(sharedPath(TRIVY, 'npm-cyclonedx.json.golden'))).inventory
    expect(npm.packages).toHaveLength(12)
    expect(new Set(npm.packages.map((p) => p.ecosystem))).toEqual(new Set(['npm']))
  })

  it('purl types Vigil does not match (conda) are skipped with a reason, not guessed', async () => {
    const { inventory, skipped } = await readSbomFile(sharedPath(TRIVY, 'conda-cyclonedx.json.golden'))
    expect(inventory.packages).toHaveLength(0)
    expect(skipped).toHaveLength(2)
    expect(skipped[0]?.reason).toMatch(/conda/)
  })

  it('osv-scalibr CycloneDX 1.6 (alpine): OS from the distro qualifier, origin as source, evidence path', async () => {
    const { inventory } = await readSbomFile(sharedPath(OSV, 'alpine-zlib-16.cdx.json'))
    expect(inventory.os).toEqual({ family: 'alpine', version: '3.22.0', ecosystem: 'Alpine:v3.22' })
    expect(inventory.packages).toEqual([
      expect.objectContaining({ ecosystem: 'Alpine:v3.22', name: 'zlib', version: '1.2.12-r1', source: { name: 'zlib' }, path: 'lib/apk/db/installed', arch: 'x86_64' }),
    ])
  })

  it('osv-scalibr SPDX 2.3 (ubuntu focal): codename → Ubuntu:20.04, epoch kept in the version', async () => {
    const { inventory } = await readSbomFile(sharedPath(OSV, 'only-unimportant.spdx.json'))
    expect(inventory.packages).toHaveLength(1)
    expect(inventory.packages[0]).toMatchObject({ ecosystem: 'Ubuntu:20.04', version: '2:8.39-12ubuntu0.1', source: { name: 'pcre3' } })
  })

  it('real files that are not CycloneDX/SPDX JSON are ERR_SBOM_INVALID', () => {
    const syft = readFileSync(sharedPath('e2e/grype/test/integration/testdata/sbom/syft-sbom-with-unknown-packages.json'))
    expectCode(() => parseSbom(syft), 'ERR_SBOM_INVALID')
    const xml = readFileSync(sharedPath(OSV, 'alpine.cdx.xml'))
    expectCode(() => parseSbom(xml), 'ERR_SBOM_INVALID')
  })
})

describe('malformed SBOMs', () => {
  it.each([
    ['not JSON', '{"bomFormat": "CycloneDX",'],
    ['an array', '[]'],
    ['no format marker', '{"components": []}'],
    ['CycloneDX 2.0', '{"bomFormat":"CycloneDX","specVersion":"2.0"}'],
    ['components not an array', '{"bomFormat":"CycloneDX","specVersion":"1.6","components":{}}'],
    ['a component without a name', '{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library"}]}'],
    ['properties not an array', '{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"x","properties":"a"}]}'],
    ['SPDX package without SPDXID', '{"spdxVersion":"SPDX-2.3","packages":[{"name":"x"}]}'],
    ['SPDX 3', '{"spdxVersion":"SPDX-3.0"}'],
  ])('%s → ERR_SBOM_INVALID', (_what, text) => expectCode(() => parseSbom(text), 'ERR_SBOM_INVALID'))

  it('deeply nested components are refused, not a stack overflow', () => {
    let c: Record<string, unknown> = { type: 'library', name: 'leaf' }
    for (let i = 0; i < 200; i++) c = { type: 'library', name: `n${i}`, components: [c] }
    expectCode(() => parseSbom(JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.6', components: [c] })), 'ERR_SBOM_INVALID')
  })

  it('an unparsable purl skips that component only', () => {
    const doc = { bomFormat: 'CycloneDX', specVersion: '1.4', components: [
      { type: 'library', name: 'bad', purl: 'not-a-purl' },
      { type: 'library', name: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20' },
    ] }
    const { inventory, skipped } = parseSbom(JSON.stringify(doc))
    expect(inventory.packages.map((p) => p.name)).toEqual(['lodash'])
    expect(skipped).toEqual([expect.objectContaining({ ref: 'bad#0' })])
  })

  it('a missing file is ERR_TARGET_NOT_FOUND', async () => {
    await expect(readSbomFile('/nonexistent/vigil.cdx.json')).rejects.toMatchObject({ code: 'ERR_TARGET_NOT_FOUND' })
  })
})
