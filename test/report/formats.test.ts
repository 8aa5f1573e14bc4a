import { readFileSync } from 'node:fs'
import type { ValidateFunction } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SEVERITIES, type Finding } from '../../src/match/types.js'
import { toHarborReport } from '../../src/report/harbor.js'
import { renderReport } from '../../src/report/index.js'
import { toJsonReport } from '../../src/report/json.js'
import { toSarif } from '../../src/report/sarif.js'
import { compareFindings, severityRank } from '../../src/report/severity.js'
import { renderTable } from '../../src/report/table.js'
import type { ScanReport } from '../../src/report/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { newAjv } from '../sbom/schemas.js'
import { realPypiScan, type RealScan } from './fixtures.js'

noteSharedMissing('report formats on real findings')

type Json = Record<string, any>

/** The spec's HarborVulnerabilityReport component, out of the OpenAPI document, as a JSON schema. */
function harborValidator(specVersion: '1.1' | '1.2'): { validate: ValidateFunction; item: Json } {
  const spec = parseYaml(readFileSync(sharedPath(`schemas/harbor-scanner-adapter-openapi-v${specVersion}.yaml`), 'utf8')) as Json
  const definitions = JSON.parse(JSON.stringify(spec.components.schemas).replaceAll('#/components/schemas/', '#/definitions/')) as Json
  const ajv = newAjv()
  ajv.addFormat('float', true) // an OpenAPI format name: a JSON number, which `type: number` already checks
  return { validate: ajv.compile({ $ref: '#/definitions/HarborVulnerabilityReport', definitions }), item: definitions.VulnerabilityItem }
}

describe.skipIf(!HAS_SHARED)('report formats on real findings', () => {
  let scan: RealScan
  let report: ScanReport
  beforeAll(async () => {
    scan = await realPypiScan()
    report = { inventory: scan.inventory, findings: scan.findings, suppressed: [], generatedAt: '2026-11-22T10:00:00.000Z' }
  })
  afterAll(async () => scan?.cleanup())

  it('table: header, one row per finding grouped worst severity first, plain ASCII without colour', () => {
    const text = renderTable(report)
    expect(text).toMatch(/^[\x20-\x7e\n]*$/)
    const lines = text.split('\n')
    const header = lines.findIndex((l) => l.startsWith('PACKAGE'))
    expect(lines[header]).toMatch(/^PACKAGE\s+INSTALLED\s+FIXED\s+ID\s+SEVERITY\s+RISK$/)
    const rows = lines.slice(header + 2).filter((l) => l.trim() !== '')
    expect(rows).toHaveLength(report.findings.length)
    const sorted = [...report.findings].sort(compareFindings)
    rows.forEach((row, i) => {
      const f = sorted[i]!
      expect(row.startsWith(f.name)).toBe(true)
      expect(row).toContain(f.id)
      expect(row.endsWith(` ${f.risk}`)).toBe(true)
    })
    for (let i = 1; i < sorted.length; i++) expect(severityRank(sorted[i - 1]!.severity)).toBeGreaterThanOrEqual(severityRank(sorted[i]!.severity))
    expect(lines[1]).toContain(`${report.inventory.packages.length} packages; ${report.findings.length} findings`)
  })

  it('table: colour codes only when asked (a TTY)', () => {
    expect(renderTable(report, { colour: true })).toContain('\x1b[')
    expect(renderTable(report, { colour: false })).not.toContain('\x1b[')
  })

  it('json: image, os, package count, every Finding field, summary by severity', () => {
    const json = JSON.parse(renderReport('json', report)) as Json
    expect(json.image).toEqual(report.inventory.image)
    expect(json.packages).toBe(report.inventory.packages.length)
    expect(json.findings).toEqual(JSON.parse(JSON.stringify([...report.findings].sort(compareFindings))))
    expect(Object.keys(json.summary)).toEqual([...SEVERITIES])
    expect(Object.values(json.summary as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(report.findings.length)
    expect(json.summary.HIGH).toBe(report.findings.filter((f) => f.severity === 'HIGH').length)
  })

  it('sarif 2.1.0: one rule per advisory, results point at their rule and the package path', () => {
    const sarif = toSarif(report) as Json
    expect(sarif.version).toBe('2.1.0')
    expect(sarif.$schema).toMatch(/sarif-2\.1\.0/)
    const run = sarif.runs[0]
    expect(run.tool.driver).toMatchObject({ name: 'vigil', version: expect.any(String) })
    const ruleIds = run.tool.driver.rules.map((r: Json) => r.id)
    expect(new Set(ruleIds).size).toBe(ruleIds.length)
    expect(new Set(ruleIds)).toEqual(new Set(report.findings.map((f) => f.id)))
    expect(run.results).toHaveLength(report.findings.length)
    for (const r of run.results as Json[]) {
      expect(run.tool.driver.rules[r.ruleIndex].id).toBe(r.ruleId)
      expect(['error', 'warning', 'note']).toContain(r.level)
      expect(r.message.text.length).toBeGreaterThan(0)
      expect(r.locations[0].physicalLocation.artifactLocation.uri).toMatch(/^usr\/lib\/python3\/dist-packages\/.+\/METADATA$/)
    }
    for (const rule of run.tool.driver.rules as Json[]) {
      expect(rule.shortDescription.text.length).toBeGreaterThan(0)
      expect(Number(rule.properties['security-severity'])).toBeGreaterThanOrEqual(0)
    }
    const high = report.findings.find((f) => f.severity === 'HIGH')!
    expect(run.results.find((r: Json) => r.ruleId === high.id).level).toBe('error')
  })

  it.each(['1.1', '1.2'] as const)('harbor: valid against the spec v%s HarborVulnerabilityReport component', (v) => {
    const { validate, item } = harborValidator(v)
    const harbor = toHarborReport(report) as Json
    expect(validate(harbor), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true)
    expect(harbor.vulnerabilities).toHaveLength(report.findings.length)
    // Harbor ignores unknown fields but fails on type mismatches: emit only the spec's fields plus the two it reads.
    const allowed = new Set([...Object.keys(item.properties), 'status', 'layer'])
    for (const vuln of harbor.vulnerabilities as Json[]) for (const key of Object.keys(vuln)) expect(allowed.has(key), key).toBe(true)
  })

  it('harbor: exact severity strings, fix_version, preferred_cvss numbers, risk/EPSS/KEV/CVSS in vendor_attributes', () => {
    const harbor = toHarborReport(report) as Json
    expect(harbor.scanner).toEqual({ name: 'vigil', vendor: 'Vigil', version: expect.any(String) })
    expect(harbor.artifact).toEqual({ repository: 'team/pyapp', digest: report.inventory.image.digest, tag: '1.0' })
    expect(harbor.severity).toBe('High')
    const byKey = new Map(report.findings.map((f) => [`${f.id}|${f.name}|${f.installed}`, f]))
    for (const v of harbor.vulnerabilities as Json[]) {
      const f = byKey.get(`${v.id}|${v.package}|${v.version}`) as Finding
      expect(['Critical', 'High', 'Medium', 'Low', 'Negligible', 'Unknown']).toContain(v.severity)
      expect(v.severity.toUpperCase()).toBe(f.severity)
      expect(v.fix_version).toBe(f.fixedVersions.join(', '))
      expect(v.vendor_attributes).toMatchObject({ risk: f.risk, kev: f.kev ?? false })
      const v31 = f.cvss.find((c) => c.version === '3.1')
      if (v31) expect(v.preferred_cvss).toEqual({ score_v3: v31.score, vector_v3: v31.vector })
      expect(v.layer.digest).toBe(f.layer)
      expect(v.layer.diff_id).toMatch(/^sha256:/)
    }
  })

  it('harbor: an empty report has no top-level severity and is still valid', () => {
    const harbor = toHarborReport({ ...report, findings: [] }) as Json
    expect(harbor.severity).toBeUndefined()
    expect(harbor.vulnerabilities).toEqual([])
    expect(harborValidator('1.2').validate(harbor)).toBe(true)
  })

  it('the Harbor schema check is real: a string score fails it', () => {
    const harbor = toHarborReport(report) as Json
    const withCvss = (harbor.vulnerabilities as Json[]).find((v) => v.preferred_cvss)!
    withCvss.preferred_cvss.score_v3 = String(withCvss.preferred_cvss.score_v3)
    expect(harborValidator('1.2').validate(harbor)).toBe(false)
  })
})
