import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseIgnoreFile } from '../../src/report/ignore-file.js'
import { applyPolicy, failingFindings, parseFailOn, parseSeverityList, type Policy } from '../../src/report/policy.js'
import { parseVex } from '../../src/report/vex.js'
import type { Finding } from '../../src/match/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { UNFIXED_PYPI, realPypiScan, type RealScan } from './fixtures.js'

noteSharedMissing('scan policy on real PyPI findings')

const NONE: Policy = { severities: [], ignoreUnfixed: false, vex: [] }

function openVex(statements: unknown[], timestamp = '2026-01-01T00:00:00Z'): string {
  return JSON.stringify({ '@context': 'https://openvex.dev/ns/v0.2.0', '@id': 'https://vex.example.test/1', author: 'test', timestamp, version: 1, statements })
}

describe('policy arguments', () => {
  it('parses severity lists and --fail-on forms', () => {
    expect(parseSeverityList('critical, HIGH')).toEqual(['CRITICAL', 'HIGH'])
    expect(parseFailOn('high')).toEqual({ kind: 'severity', severity: 'HIGH' })
    expect(parseFailOn('risk>=70')).toEqual({ kind: 'risk', min: 70 })
    expect(parseFailOn('risk >= 12.5')).toEqual({ kind: 'risk', min: 12.5 })
  })
  it.each(['severe', 'risk>70', 'risk>=101', ''])('--fail-on %j is a usage error', (v) => {
    expect(() => parseFailOn(v)).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }))
  })
  it('an unknown severity is a usage error', () => {
    expect(() => parseSeverityList('HIGH,BAD')).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }))
  })
})

describe('ignore file forms', () => {
  it('plain: ids with comments; anything else is ERR_CONFIG with the line', () => {
    const list = parseIgnoreFile('# header\nCVE-2021-33503  # urllib3 ReDoS, not reachable\n\nPYSEC-2023-74\n')
    expect(list.rules).toEqual([
      { id: 'CVE-2021-33503', reason: 'urllib3 ReDoS, not reachable', origin: '.vigilignore:2' },
      { id: 'PYSEC-2023-74', origin: '.vigilignore:4' },
    ])
    expect(() => parseIgnoreFile('CVE-2021-1 extra words\n')).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining(':1') }))
  })
  it('YAML: expiry splits rules into applied and expired', () => {
    const yaml = 'ignore:\n  - id: CVE-2020-1\n    expires: 2026-01-31\n  - id: CVE-2020-2\n    expires: 2026-12-31\n    reason: later\n  - GHSA-aaaa-bbbb-cccc\n'
    const list = parseIgnoreFile(yaml, 'ign.yaml', new Date('2026-06-01T00:00:00Z'))
    expect(list.rules.map((r) => r.id)).toEqual(['CVE-2020-2', 'GHSA-aaaa-bbbb-cccc'])
    expect(list.expired.map((r) => r.id)).toEqual(['CVE-2020-1'])
    expect(() => parseIgnoreFile('ignore:\n  - id: CVE-1\n    expires: soon\n')).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }))
    expect(() => parseIgnoreFile('ignore: 3\n')).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }))
  })
})

describe.skipIf(!HAS_SHARED)('policy on real findings (PyPI inventory × pypa advisory database)', () => {
  let scan: RealScan
  let findings: Finding[]
  const image = () => scan.inventory.image
  beforeAll(async () => {
    scan = await realPypiScan()
    findings = scan.findings
  })
  afterAll(async () => scan?.cleanup())

  it('the fixture has findings of several severities, fixed and unfixed', () => {
    expect(new Set(findings.map((f) => f.severity)).size).toBeGreaterThanOrEqual(3)
    const unfixed = findings.filter((f) => f.state !== 'fixed')
    expect(new Set(unfixed.map((f) => f.name))).toEqual(new Set(UNFIXED_PYPI.map(([n]) => n)))
  })

  it('--severity keeps exactly the listed severities', () => {
    const out = applyPolicy(findings, { ...NONE, severities: ['HIGH', 'CRITICAL'] }, image())
    const want = findings.filter((f) => f.severity === 'HIGH' || f.severity === 'CRITICAL')
    expect(want.length).toBeGreaterThan(0)
    expect(out.findings).toEqual(want)
    expect(out.filtered).toBe(findings.length - want.length)
  })

  it('--ignore-unfixed drops findings without a fixed version', () => {
    const out = applyPolicy(findings, { ...NONE, ignoreUnfixed: true }, image())
    expect(out.findings.every((f) => f.state === 'fixed')).toBe(true)
    expect(out.filtered).toBe(findings.filter((f) => f.state !== 'fixed').length)
    expect(out.filtered).toBeGreaterThanOrEqual(8)
  })

  it('--fail-on risk>=N trips exactly at the highest risk present', () => {
    const max = Math.max(...findings.map((f) => f.risk))
    expect(failingFindings(findings, parseFailOn(`risk>=${max}`))).toEqual(findings.filter((f) => f.risk === max))
    expect(failingFindings(findings, parseFailOn(`risk>=${max + 1}`))).toEqual([])
  })

  it('--fail-on SEVERITY counts that severity and worse; after --severity LOW nothing HIGH is left to trip it', () => {
    const high = failingFindings(findings, parseFailOn('HIGH'))
    expect(high.length).toBeGreaterThan(0)
    expect(high.every((f) => f.severity === 'HIGH' || f.severity === 'CRITICAL')).toBe(true)
    const lowOnly = applyPolicy(findings, { ...NONE, severities: ['LOW'] }, image()).findings
    expect(failingFindings(lowOnly, parseFailOn('HIGH'))).toEqual([])
  })

  it('the ignore file suppresses by id or alias, and `purls` limits it to those packages', () => {
    const target = findings.find((f) => f.aliases.some((a) => a.startsWith('CVE-')))!
    const cve = target.aliases.find((a) => a.startsWith('CVE-'))!
    const byAlias = applyPolicy(findings, { ...NONE, ignore: parseIgnoreFile(`${cve}  # accepted risk\n`) }, image())
    expect(byAlias.suppressed).toEqual([{ finding: target, suppression: { kind: 'ignore', source: '.vigilignore:1', reason: 'accepted risk' } }])
    expect(byAlias.findings).toHaveLength(findings.length - 1)
    const otherPkg = applyPolicy(findings, { ...NONE, ignore: parseIgnoreFile(`ignore:\n  - id: ${target.id}\n    purls: [pkg:pypi/not-${target.name}]\n`) }, image())
    expect(otherPkg.suppressed).toEqual([])
    const samePkg = applyPolicy(findings, { ...NONE, ignore: parseIgnoreFile(`ignore:\n  - id: ${target.id}\n    purls: [pkg:pypi/${target.name}]\n`) }, image())
    expect(samePkg.suppressed.map((s) => s.finding)).toEqual([target])
  })

  it('OpenVEX not_affected suppresses the named package only; a later affected statement wins', () => {
    const urllib3 = findings.filter((f) => f.name === 'urllib3')
    const target = urllib3.find((f) => f.aliases.some((a) => a.startsWith('CVE-')))!
    const cve = target.aliases.find((a) => a.startsWith('CVE-'))!
    const notAffected = { vulnerability: { name: cve }, products: [{ '@id': `pkg:pypi/urllib3@${target.installed}` }], status: 'not_affected', justification: 'vulnerable_code_not_in_execute_path', impact_statement: 'proxy code unused' }
    const out = applyPolicy(findings, { ...NONE, vex: [parseVex(openVex([notAffected]))] }, image())
    expect(out.suppressed).toEqual([{ finding: target, suppression: { kind: 'vex', status: 'not_affected', justification: 'vulnerable_code_not_in_execute_path', statement: 'proxy code unused', source: 'vex.json' } }])

    const later = { ...notAffected, status: 'affected', timestamp: '2026-02-01T00:00:00Z' }
    expect(applyPolicy(findings, { ...NONE, vex: [parseVex(openVex([notAffected, later]))] }, image()).suppressed).toEqual([])

    const otherVersion = { ...notAffected, products: [{ '@id': 'pkg:pypi/urllib3@9.9.9' }] }
    expect(applyPolicy(findings, { ...NONE, vex: [parseVex(openVex([otherVersion]))] }, image()).suppressed).toEqual([])
  })

  it('OpenVEX scoped to this image by an oci product with subcomponents; another image digest does not apply', () => {
    const target = findings[0]!
    const stmt = (digest: string) => ({
      vulnerability: target.id,
      products: [{ '@id': `pkg:oci/pyapp@${encodeURIComponent(digest)}`, subcomponents: [{ '@id': `pkg:pypi/${target.name}` }] }],
      status: 'fixed',
    })
    const mine = applyPolicy(findings, { ...NONE, vex: [parseVex(openVex([stmt(image().digest)]))] }, image())
    expect(mine.suppressed.map((s) => [s.finding, s.suppression.kind])).toEqual(findings.filter((f) => f.id === target.id && f.name === target.name).map((f) => [f, 'vex']))
    const other = applyPolicy(findings, { ...NONE, vex: [parseVex(openVex([stmt(`sha256:${'0'.repeat(64)}`)]))] }, image())
    expect(other.suppressed).toEqual([])
  })

  it('real OpenVEX files parse (Trivy v0.2.0 with @id vulnerability; grype affected / under_investigation)', () => {
    const trivy = parseVex(readFileSync(sharedPath('e2e/trivy-integration/testdata/fixtures/vex/file/openvex.json'), 'utf8'))
    expect(trivy.statements).toHaveLength(1)
    for (const f of ['affected', 'under_investigation']) {
      const doc = parseVex(readFileSync(sharedPath(`e2e/grype/test/integration/testdata/vex/openvex/${f}.openvex.json`), 'utf8'))
      expect(doc.statements[0]?.status).toBe(f)
    }
    expect(() => parseVex('{"statements": []}')).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }))
    expect(() => parseVex(openVex([{ vulnerability: 'CVE-1', status: 'maybe' }]))).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }))
  })
})
