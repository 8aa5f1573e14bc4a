import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toCycloneDx } from '../../src/sbom/cyclonedx.js'
import { parseSbom } from '../../src/sbom/read.js'
import { toSpdx } from '../../src/sbom/spdx.js'
import type { Inventory, Package } from '../../src/types.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { dpkgExpectedCount, dpkgInventory, realPypiScan, type RealScan } from '../report/fixtures.js'
import { cycloneDxValidator, explain, spdxValidator } from './schemas.js'

noteSharedMissing('CycloneDX / SPDX output of a real inventory')

type Json = Record<string, any>

/** What must survive a write-then-read round trip. */
function essentials(p: Package) {
  return { ecosystem: p.ecosystem, name: p.name, version: p.version, purl: p.purl, layer: p.layer, path: p.path, source: p.source, arch: p.arch, kind: p.kind }
}

describe.skipIf(!HAS_SHARED)('SBOM output of a real dpkg inventory (claircore texlive.status, Ubuntu 18.04)', () => {
  let inventory: Inventory
  beforeAll(async () => {
    inventory = await dpkgInventory()
  })

  it('the inventory is the dpkg-query package list', () => {
    expect(inventory.packages).toHaveLength(dpkgExpectedCount())
    expect(inventory.packages.length).toBeGreaterThan(300)
  })

  it('CycloneDX 1.6: valid against the official schema, one component per package plus the OS', () => {
    const bom = toCycloneDx(inventory) as Json
    const validate = cycloneDxValidator('1.6')
    expect(validate(bom), explain(validate.errors)).toBe(true)
    expect(bom.specVersion).toBe('1.6')
    expect(bom.metadata.tools.components[0]).toMatchObject({ type: 'application', name: 'vigil' })
    expect(bom.metadata.component).toMatchObject({ type: 'container', version: inventory.image.digest, hashes: [{ alg: 'SHA-256', content: inventory.image.digest.slice(7) }] })
    expect(bom.metadata.component.purl).toMatch(/^pkg:oci\/texlive@sha256(:|%3A)c3c3c3.*repository_url=registry.example.test%2Ftex%2Ftexlive&tag=2019$/)
    const components = bom.components as Json[]
    expect(components).toHaveLength(inventory.packages.length + 1)
    expect(components.filter((c) => c.type === 'operating-system')).toEqual([expect.objectContaining({ name: 'ubuntu', version: '18.04' })])
    expect(new Set(components.map((c) => c['bom-ref'])).size).toBe(components.length)
    const adduser = components.find((c) => c.name === 'adduser')!
    expect(adduser.purl).toBe('pkg:deb/ubuntu/adduser@3.116ubuntu1?arch=all&distro=ubuntu-18.04')
    const props = Object.fromEntries((adduser.properties as Json[]).map((p) => [p.name, p.value]))
    expect(props).toMatchObject({ 'vigil:layer': inventory.packages[0]!.layer, 'vigil:path': 'var/lib/dpkg/status', 'vigil:source:name': 'adduser', 'vigil:arch': 'all', 'vigil:ecosystem': 'Ubuntu:18.04' })
  })

  it('the schema check is real: a component without a name is rejected', () => {
    const bom = toCycloneDx(inventory) as Json
    delete bom.components[1].name
    expect(cycloneDxValidator('1.6')(bom)).toBe(false)
  })

  it('SPDX 2.3: valid against the official schema; image root, OS, DESCRIBES / CONTAINS', () => {
    const doc = toSpdx(inventory) as Json
    const validate = spdxValidator()
    expect(validate(doc), explain(validate.errors)).toBe(true)
    const packages = doc.packages as Json[]
    expect(packages).toHaveLength(inventory.packages.length + 2)
    expect(packages[0]).toMatchObject({ primaryPackagePurpose: 'CONTAINER', versionInfo: inventory.image.digest })
    expect(packages.filter((p) => p.primaryPackagePurpose === 'OPERATING_SYSTEM')).toHaveLength(1)
    const rel = doc.relationships as Json[]
    expect(rel.filter((r) => r.relationshipType === 'DESCRIBES')).toEqual([{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: packages[0]!.SPDXID }])
    expect(rel.filter((r) => r.relationshipType === 'CONTAINS')).toHaveLength(inventory.packages.length + 1)
    for (const p of packages.slice(2)) {
      expect(p.SPDXID).toMatch(/^SPDXRef-Package-[0-9a-f]{16}$/)
      expect(p.downloadLocation).toBe('NOASSERTION')
      expect(p.externalRefs[0]).toMatchObject({ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl' })
      expect(p.annotations[0].comment).toContain('vigil:layer=sha256:')
    }
    expect(new Set(packages.map((p) => p.SPDXID)).size).toBe(packages.length)
  })

  it('the SPDX schema check is real: a package without downloadLocation is rejected', () => {
    const doc = toSpdx(inventory) as Json
    delete doc.packages[3].downloadLocation
    expect(spdxValidator()(doc)).toBe(false)
  })

  it.each(['cyclonedx', 'spdx'] as const)('%s round trip through read.ts keeps every package, layer, path and source', (format) => {
    const doc = format === 'cyclonedx' ? toCycloneDx(inventory) : toSpdx(inventory)
    const back = parseSbom(JSON.stringify(doc)).inventory
    expect(back.packages.map(essentials)).toEqual(inventory.packages.map(essentials))
    expect(back.os).toEqual(inventory.os)
    expect(back.image).toEqual(inventory.image)
  })
})

describe.skipIf(!HAS_SHARED)('CycloneDX with vulnerabilities (real PyPI findings)', () => {
  let scan: RealScan
  beforeAll(async () => {
    scan = await realPypiScan()
  })
  afterAll(async () => scan?.cleanup())

  it('is valid 1.6, one vulnerability per finding, each affecting an existing component', () => {
    expect(scan.findings.length).toBeGreaterThan(20)
    const bom = toCycloneDx(scan.inventory, scan.findings) as Json
    const validate = cycloneDxValidator('1.6')
    expect(validate(bom), explain(validate.errors)).toBe(true)
    const vulns = bom.vulnerabilities as Json[]
    expect(vulns).toHaveLength(scan.findings.length)
    const refs = new Set((bom.components as Json[]).map((c) => c['bom-ref']))
    for (const v of vulns) {
      expect(refs.has(v.affects[0].ref)).toBe(true)
      expect(v.source.url).toMatch(/^https:\/\//)
      for (const r of v.ratings) expect(['CVSSv2', 'CVSSv3', 'CVSSv31', 'CVSSv4', 'other']).toContain(r.method)
      expect(v.properties.find((p: Json) => p.name === 'vigil:risk')).toBeDefined()
    }
    const withCvss = scan.findings.find((f) => f.cvss.some((c) => c.version === '3.1'))
    expect(withCvss).toBeDefined()
    const v = vulns.find((x) => x.id === withCvss!.id)!
    expect(v.ratings.find((r: Json) => r.method === 'CVSSv31')).toMatchObject({ vector: expect.stringMatching(/^CVSS:3\.1\//), score: expect.any(Number) })
  })

  it('a VEX-suppressed finding is written with analysis not_affected and its justification', () => {
    const [first, ...rest] = scan.findings
    const bom = toCycloneDx(scan.inventory, rest, {
      suppressed: [{ finding: first!, suppression: { kind: 'vex', status: 'not_affected', justification: 'vulnerable_code_not_in_execute_path', statement: 'never imported', source: 'app.openvex.json' } }],
    }) as Json
    expect(cycloneDxValidator('1.6')(bom)).toBe(true)
    const v = (bom.vulnerabilities as Json[]).find((x) => x.analysis)!
    expect(v.id).toBe(first!.id)
    expect(v.analysis).toMatchObject({ state: 'not_affected', justification: 'code_not_reachable' })
    expect(v.affects[0].versions[0]).toEqual({ version: first!.installed, status: 'unaffected' })
  })
})
