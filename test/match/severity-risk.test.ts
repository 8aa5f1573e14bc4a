import { describe, expect, it } from 'vitest'
import { cvssBaseScore, severityOf, severityFromCvss } from '../../src/match/severity.js'
import { riskScore, type RiskInput } from '../../src/match/risk.js'
import { SEVERITIES, type FixState } from '../../src/match/types.js'

describe('CVSS base scores (ae-cvss-calculator) against published scores', () => {
  it.each([
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', '3.1', 9.8], // NVD's score for e.g. CVE-2019-0708
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', '3.1', 10], // CVE-2021-44228 (Log4Shell)
    ['CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', '3.0', 7.5],
    ['CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:C/C:H/I:N/A:N', '3.1', 6.0], // computed by hand from the v3.1 spec formulas (scope changed, roundup(5.91))
    ['AV:N/AC:L/Au:N/C:P/I:P/A:P', '2.0', 7.5], // the classic v2 7.5
    ['AV:N/AC:M/Au:N/C:C/I:C/A:C', '2.0', 9.3],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', '4.0', 9.3],
    ['CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', '4.0', 8.5],
  ])('%s → %s %f', (vector, version, score) => {
    expect(cvssBaseScore(vector)).toEqual({ version, vector, score })
  })

  it('rejects incomplete and garbage vectors', () => {
    expect(cvssBaseScore('CVSS:3.1/AV:N')).toBeUndefined()
    expect(cvssBaseScore('not a vector')).toBeUndefined()
    expect(cvssBaseScore('CVSS:9.9/AV:N')).toBeUndefined()
  })

  it('maps scores to bands (v2 has no CRITICAL)', () => {
    expect(severityFromCvss({ version: '3.1', vector: '', score: 9.0 })).toBe('CRITICAL')
    expect(severityFromCvss({ version: '3.1', vector: '', score: 6.9 })).toBe('MEDIUM')
    expect(severityFromCvss({ version: '2.0', vector: '', score: 10 })).toBe('HIGH')
    expect(severityFromCvss({ version: '4.0', vector: '', score: 0 })).toBe('NEGLIGIBLE')
  })

  it('prefers vendor severity, then v4 > v3.1 > v3.0 > v2', () => {
    const v2 = cvssBaseScore('AV:N/AC:L/Au:N/C:P/I:P/A:P')!
    const v30 = cvssBaseScore('CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H')!
    const v31 = cvssBaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H')!
    const v4 = cvssBaseScore('CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')!
    expect(severityOf({ cvss: [v2, v30, v31, v4] })).toEqual({ severity: 'HIGH', source: 'cvss' }) // v4 8.5
    expect(severityOf({ cvss: [v2, v30, v31] })).toEqual({ severity: 'CRITICAL', source: 'cvss' }) // v3.1 10
    expect(severityOf({ cvss: [v2, v30] })).toEqual({ severity: 'HIGH', source: 'cvss' })
    expect(severityOf({ cvss: [v31], vendorSeverity: 'LOW' })).toEqual({ severity: 'LOW', source: 'vendor' })
    expect(severityOf({ cvss: [] })).toEqual({ severity: 'UNKNOWN', source: 'none' })
  })
})

describe('risk score', () => {
  const base: RiskInput = { severity: 'HIGH', cvssScore: 7.5, epss: 0.1, kev: false, state: 'fixed' }

  it('stays within 0..100 at the extremes and for junk input', () => {
    expect(riskScore({ severity: 'CRITICAL', cvssScore: 10, epss: 1, kev: true, state: 'fixed' })).toBe(100)
    expect(riskScore({ severity: 'NEGLIGIBLE', cvssScore: 0, epss: 0, state: 'wont-fix' })).toBe(0)
    expect(riskScore({ severity: 'HIGH', cvssScore: 99, epss: 7, state: 'fixed' })).toBe(100)
    expect(riskScore({ severity: 'HIGH', cvssScore: Number.NaN, epss: -1, state: 'fixed' })).toBe(0)
  })

  it('is monotonic in CVSS, EPSS, KEV and fix availability', () => {
    const grid = [0, 0.5, 1, 2, 3.3, 5, 7.5, 9, 10]
    const epss = [0, 0.0004, 0.01, 0.05, 0.2, 0.5, 0.9, 1]
    const states: FixState[] = ['wont-fix', 'affected', 'fixed']
    for (const e of epss) for (const s of states) for (const kev of [false, true]) {
      const scores = grid.map((c) => riskScore({ ...base, cvssScore: c, epss: e, kev, state: s }))
      expect(scores).toEqual([...scores].sort((a, b) => a - b))
    }
    for (const c of grid) for (const s of states) {
      const scores = epss.map((e) => riskScore({ ...base, cvssScore: c, epss: e, state: s }))
      expect(scores).toEqual([...scores].sort((a, b) => a - b))
      expect(riskScore({ ...base, cvssScore: c, state: s, kev: true })).toBeGreaterThanOrEqual(riskScore({ ...base, cvssScore: c, state: s, kev: false }))
    }
    for (const c of grid) {
      const byState = states.map((s) => riskScore({ ...base, cvssScore: c, state: s }))
      expect(byState).toEqual([...byState].sort((a, b) => a - b))
    }
  })

  it('orders severities when no CVSS score is known', () => {
    const order = SEVERITIES.filter((s) => s !== 'UNKNOWN').map((severity) => riskScore({ severity, epss: 0.3, state: 'fixed' }))
    expect(order).toEqual([...order].sort((a, b) => b - a))
  })

  it('gives the values docs/risk.md shows', () => {
    expect([
      riskScore({ severity: 'CRITICAL', cvssScore: 10, kev: true, state: 'fixed' }),
      riskScore({ severity: 'CRITICAL', cvssScore: 9.8, epss: 0.5, state: 'fixed' }),
      riskScore({ severity: 'HIGH', cvssScore: 7.5, epss: 0.01, state: 'fixed' }),
      riskScore({ severity: 'HIGH', cvssScore: 7.5, state: 'affected' }),
      riskScore({ severity: 'NEGLIGIBLE', state: 'wont-fix' }),
    ]).toEqual([100, 78, 28, 20, 1])
  })

  it('KEV outranks a high EPSS at equal impact', () => {
    expect(riskScore({ ...base, kev: true, epss: 0 })).toBeGreaterThan(riskScore({ ...base, epss: 0.5 }))
  })
})
