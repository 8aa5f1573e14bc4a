import { describe, expect, it } from 'vitest'
import { getScheme } from '../../src/versions/index.js'

/** Behaviour the vector files do not pin down but matching relies on. */
describe('scheme details', () => {
  it('go: pseudo-versions order by timestamp, +incompatible is ignored, the v is optional', () => {
    const go = getScheme('go')
    expect(go.compare('v0.0.0-20191109021931-daa7c04131f5', 'v0.0.0-20200101000000-0123456789ab')).toBe(-1)
    expect(go.compare('v1.2.4-0.20191109021931-daa7c04131f5', 'v1.2.3')).toBe(1) // pseudo-version after v1.2.3
    expect(go.compare('v1.2.4-0.20191109021931-daa7c04131f5', 'v1.2.4')).toBe(-1)
    expect(go.compare('v2.0.0+incompatible', 'v2.0.0')).toBe(0)
    expect(go.compare('1.19.2', 'v1.19.10')).toBe(-1)
    expect(go.isValid('v1.2-pre')).toBe(false)
    expect(() => go.compare('v01.2.3', 'v1.2.3')).toThrow(/not a valid go version/)
  })

  it('rpm: a release present beats a release absent, as rpm 4.18 orders it', () => {
    const rpm = getScheme('rpm')
    expect(rpm.compare('1.0', '1.0-1')).toBe(-1)
    expect(rpm.compare('0:1.0', '1.0')).toBe(0)
    expect(rpm.compare('1.0^git1-1', '1.0-1')).toBe(1)
    expect(rpm.compare('1.0~rc1-1', '1.0-1')).toBe(-1)
    expect(() => rpm.compare('', '1')).toThrow(/not a valid rpm version/)
  })

  it('dpkg: parse errors are invalid, parse warnings are not', () => {
    const dpkg = getScheme('dpkg')
    for (const bad of ['', '1:', 'a:1.0', '1.0-', ':1.0', '1 .0']) expect(dpkg.isValid(bad), bad).toBe(false)
    expect(dpkg.isValid('abc')).toBe(true) // dpkg warns "does not start with digit" and compares anyway
    expect(dpkg.compare('1.0~rc1-1', '1.0-1')).toBe(-1)
    expect(dpkg.compare('2:1.0', '1:9.9')).toBe(1)
  })

  it('maven: refuses strings over 256 characters, as Maven does', () => {
    const maven = getScheme('maven')
    expect(maven.isValid('1.'.repeat(128))).toBe(true)
    expect(maven.isValid('1.'.repeat(129))).toBe(false)
    expect(maven.compare('1.0-SNAPSHOT', '1.0')).toBe(-1)
  })

  it('a cached parse does not change answers for repeated or evicted strings', () => {
    const pep440 = getScheme('pep440')
    const versions = Array.from({ length: 20_000 }, (_, i) => `1.${i}`)
    const wrong = versions.slice(1).filter((v, i) => pep440.compare(versions[i]!, v) !== -1)
    expect(wrong).toEqual([])
    expect(pep440.compare('1.0', '1.19999')).toBe(-1)
  })
})
