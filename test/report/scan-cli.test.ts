import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import type { CliIo } from '../../src/cli/command.js'
import type { Finding } from '../../src/match/types.js'
import { toCycloneDx } from '../../src/sbom/cyclonedx.js'
import { toSpdx } from '../../src/sbom/spdx.js'
import type { Inventory } from '../../src/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { CORPUS, hasImage, noteCorpusMissing, readInfo } from '../image/corpus.js'
import { cycloneDxValidator, explain } from '../sbom/schemas.js'
import { realPypiScan } from './fixtures.js'

noteSharedMissing('vigil scan sbom:FILE end to end')
noteCorpusMissing(['debian-minbase'])

type Json = Record<string, any>

class Capture extends Writable {
  text = ''
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString()
    done()
  }
}

async function vigil(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture()
  const stderr = new Capture()
  const io: CliIo = { stdout, stderr, stdin: Readable.from([]), env: { VIGIL_DATA: join(cwd ?? tmpdir(), 'unused-default-data') } }
  const code = await main(args, io)
  return { code, stdout: stdout.text, stderr: stderr.text }
}

describe.skipIf(!HAS_SHARED)('vigil scan sbom:FILE through main()', () => {
  let work: string
  let dataDir: string
  let emptyData: string
  let cdx: string
  let spdx: string
  let inventory: Inventory
  let findings: Finding[]

  beforeAll(async () => {
    const scan = await realPypiScan()
    inventory = scan.inventory
    findings = scan.findings
    dataDir = scan.dataDir
    // The CLI opens the store itself: close ours first, keep the imported data on disk.
    await scan.store.close()
    work = mkdtempSync(join(tmpdir(), 'vigil-scan-cli-'))
    emptyData = join(work, 'empty-data')
    cdx = join(work, 'pyapp.cdx.json')
    spdx = join(work, 'pyapp.spdx.json')
    writeFileSync(cdx, JSON.stringify(toCycloneDx(inventory)))
    writeFileSync(spdx, JSON.stringify(toSpdx(inventory)))
  })
  afterAll(() => {
    for (const d of [work, dataDir]) if (d) rmSync(d, { recursive: true, force: true })
  })

  it('json report of a CycloneDX SBOM has the findings matching gives directly', async () => {
    const r = await vigil(['scan', `sbom:${cdx}`, '--data', dataDir, '--format', 'json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const json = JSON.parse(r.stdout) as Json
    expect(json.packages).toBe(inventory.packages.length)
    expect(json.findings.map((f: Finding) => `${f.id} ${f.pkgKey}`).sort()).toEqual(findings.map((f) => `${f.id} ${f.pkgKey}`).sort())
  })

  it('options before the target work the same, and SPDX input gives the same findings', async () => {
    const r = await vigil(['scan', '--format', 'json', '--data', dataDir, `sbom:${spdx}`])
    expect(r.code).toBe(0)
    expect((JSON.parse(r.stdout) as Json).findings).toHaveLength(findings.length)
  })

  it('--fail-on risk>=N exits 1 at the highest risk present, 0 above it; the report is still written', async () => {
    const max = Math.max(...findings.map((f) => f.risk))
    const trip = await vigil(['scan', `sbom:${cdx}`, '--data', dataDir, '--fail-on', `risk>=${max}`, '--format', 'json'])
    expect(trip.code).toBe(1)
    expect(trip.stderr).toMatch(/policy failed: \d+ findings at --fail-on risk>=/)
    expect((JSON.parse(trip.stdout) as Json).findings).toHaveLength(findings.length)
    const pass = await vigil(['scan', `sbom:${cdx}`, '--data', dataDir, '--fail-on', `risk>=${max + 1}`, '--format', 'json'])
    expect(pass.code).toBe(0)
  })

  it('--severity, --ignore-unfixed and --fail-on SEVERITY combine', async () => {
    const r = await vigil(['scan', `sbom:${cdx}`, '--data', dataDir, '--severity', 'LOW,MEDIUM', '--ignore-unfixed', '--fail-on', 'HIGH', '--format', 'json'])
    expect(r.code).toBe(0)
    const kept = (JSON.parse(r.stdout) as Json).findings as Finding[]
    expect(kept).toHaveLength(findings.filter((f) => (f.severity === 'LOW' || f.severity === 'MEDIUM') && f.state === 'fixed').length)
    expect((await vigil(['scan', `sbom:${cdx}`, '--data', dataDir, '--fail-on', 'HIGH', '-q', '-f', 'json'])).code).toBe(1)
  })

  it('--ignore-file and --vex suppress, and CycloneDX output carries the VEX analysis', async () => {
    const [a, b] = [findings[0]!, findings.find((f) => f.id !== findings[0]!.id)!]
    const ignore = join(work, '.vigilignore')
    writeFileSync(ignore, `${a.id}  # accepted\n`)
    const vex = join(work, 'app.openvex.json')
    writeFileSync(vex, JSON.stringify({ '@context': 'https://openvex.dev/ns/v0.2.0', '@id': 'x', author: 't', timestamp: '2026-01-01T00:00:00Z', version: 1,
      statements: [{ vulnerability: { name: b.id }, products: [{ '@id': b.purl }], status: 'not_affected', justification: 'component_not_present' }] }))
    const r = await vigil(['scan', `sbom:${cdx}`, '--data', dataDir, '--ignore-file', ignore, '--vex', vex, '-f', 'cyclonedx'])
    expect(r.code).toBe(0)
    const bom = JSON.parse(r.stdout) as Json
    const ids = (bom.vulnerabilities as Json[]).map((v) => v.id)
    expect(ids).not.toContain(a.id)
    const analysed = (bom.vulnerabilities as Json[]).filter((v) => v.analysis)
    expect(analysed.map((v) => [v.id, v.analysis.state])).toEqual(findings.filter((f) => f.id === b.id && f.purl === b.purl).map(() => [b.id, 'not_affected']))
  })

  it('-o writes the report to a file (sarif), nothing on stdout', async () => {
    const out = join(work, 'report.sarif')
    const r = await vigil(['scan', `sbom:${cdx}`, '--data', dataDir, '--format', 'sarif', '-o', out])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('')
    expect((JSON.parse(readFileSync(out, 'utf8')) as Json).runs[0].results).toHaveLength(findings.length)
  })

  it('the default format is the table', async () => {
    const r = await vigil(['scan', `sbom:${cdx}`, '--data', dataDir])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^PACKAGE\s+INSTALLED\s+FIXED\s+ID\s+SEVERITY\s+RISK$/m)
  })

  it('a data dir without advisories for the image is ERR_NO_DATA; --allow-no-data scans anyway and warns', async () => {
    const sbom = `sbom:${sharedPath('e2e/trivy-integration/testdata/fixtures/sbom/centos-7-cyclonedx.json')}`
    const refused = await vigil(['scan', sbom, '--data', emptyData, '-f', 'json'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('ERR_NO_DATA')
    expect(refused.stderr).toContain('run vigil db update')
    expect(refused.stdout).toBe('')
    const r = await vigil(['scan', sbom, '--data', emptyData, '-f', 'json', '--allow-no-data'])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('warning: no vulnerability data for this image')
    expect(JSON.parse(r.stdout)).toMatchObject({ packages: 2, findings: [], os: { family: 'centos' } })
  })

  it.each([
    [['scan'], 2, /scan takes one target/],
    [['scan', 'sbom:a', 'sbom:b'], 2, /scan takes one target/],
    [['scan', 'sbom:x.json', '--format', 'xml'], 2, /--format xml/],
    [['scan', 'sbom:x.json', '--severity', 'SEVERE'], 2, /--severity/],
    [['scan', 'sbom:x.json', '--bogus'], 2, /ERR_USAGE/],
    [['scan', 'sbom:/nonexistent/x.json'], 2, /ERR_TARGET_NOT_FOUND/],
  ])('%j exits %i', async (args, code, message) => {
    const r = await vigil([...args, '--data', emptyData])
    expect(r.code).toBe(code)
    expect(r.stderr).toMatch(message)
  })

  it('a malformed SBOM is ERR_SBOM_INVALID, exit 2', async () => {
    const bad = join(work, 'bad.json')
    writeFileSync(bad, '{"bomFormat":"CycloneDX","specVersion":"1.6","components":"nope"}')
    const r = await vigil(['scan', `sbom:${bad}`, '--data', emptyData])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('ERR_SBOM_INVALID')
  })

  it('--help explains targets, formats, policy options and exit codes', async () => {
    const r = await vigil(['scan', '--help'])
    expect(r.code).toBe(0)
    for (const word of ['sbom:FILE', 'table|json|cyclonedx|sarif|harbor', '--fail-on risk>=N', '--ignore-file', '--vex', 'Exit codes']) expect(r.stdout).toContain(word)
  })
})

describe.skipIf(!hasImage('debian-minbase'))('vigil scan of a corpus image through main()', () => {
  let work: string
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'vigil-scan-image-'))
  })
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('oci: target → CycloneDX 1.6 with every dpkg package, which scans back as sbom: to the same inventory', async () => {
    const info = readInfo('debian-minbase') as { dpkg_packages: number; manifest_digest: string }
    const data = join(work, 'data')
    const out = join(work, 'minbase.cdx.json')
    const r = await vigil(['scan', `oci:${join(CORPUS, 'debian-minbase', 'oci')}`, '--format', 'cyclonedx', '-o', out, '--data', data, '--allow-no-data'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('warning: no vulnerability data for this image')
    const bom = JSON.parse(readFileSync(out, 'utf8')) as Json
    const validate = cycloneDxValidator('1.6')
    expect(validate(bom), explain(validate.errors)).toBe(true)
    expect(bom.metadata.component.version).toBe(info.manifest_digest)
    expect((bom.components as Json[]).filter((c) => c.purl?.startsWith('pkg:deb/debian/'))).toHaveLength(info.dpkg_packages)
    const back = await vigil(['scan', `sbom:${out}`, '--format', 'json', '--data', data, '-q', '--allow-no-data'])
    expect(back.code).toBe(0)
    expect(JSON.parse(back.stdout)).toMatchObject({ packages: info.dpkg_packages, image: { digest: info.manifest_digest }, os: { ecosystem: 'Debian:12' } })
  })
})
