import { describe, expect, it } from 'vitest'
import { schemeForEcosystem } from '../../src/versions/ecosystems.js'
import { getScheme } from '../../src/versions/index.js'

describe('range helpers on the scheme interface', () => {
  const semver = getScheme('semver')
  const pep440 = getScheme('pep440')

  it('semver.satisfies reads npm ranges and counts pre-releases inside a range as affected', () => {
    // shapes from nodejs security-wg advisories (vulnerable_versions / patched_versions)
    expect(semver.satisfies!('1.2.3', '<=1.2.3 || >=2.0.0 <2.0.2')).toBe(true)
    expect(semver.satisfies!('2.0.2', '<=1.2.3 || >=2.0.0 <2.0.2')).toBe(false)
    expect(semver.satisfies!('2.0.0-rc.1', '>=1.0.0 <2.0.0')).toBe(true)
    expect(semver.satisfies!('4.17.21', '>=4.17.21')).toBe(true)
    expect(() => semver.satisfies!('1.0.0', '>=x.y.z')).toThrow(/not a valid npm range/)
    expect(() => semver.satisfies!('not-a-version', '*')).toThrow(/not a valid semver version/)
  })

  it('pep440.satisfies is a specifier-set contains with pre-releases allowed', () => {
    expect(pep440.satisfies!('2.0rc1', '>=1.0,<2.0')).toBe(false) // `<2.0` excludes 2.0's pre-releases
    expect(pep440.satisfies!('1.9.1', '>=1.0,<2.0')).toBe(true)
    expect(pep440.satisfies!('1.4.5', '~=1.4.2')).toBe(true)
    expect(pep440.satisfies!('1.5.0', '~=1.4.2')).toBe(false)
    expect(pep440.satisfies!('2.0.0b1', '==2.*')).toBe(true)
    expect(() => pep440.satisfies!('1.0', '=>1.0')).toThrow(/not a PEP 440 specifier/)
  })

  it('maps OSV ecosystems to schemes, release suffixes included', () => {
    const cases: Array<[string, string]> = [
      ['Debian:12', 'dpkg'], ['Ubuntu:22.04:LTS', 'dpkg'], ['Alpine:v3.19', 'apk'], ['Wolfi', 'apk'], ['Chainguard', 'apk'],
      ['Red Hat:enterprise_linux:9::appstream', 'rpm'], ['AlmaLinux:9', 'rpm'], ['Rocky Linux:8', 'rpm'], ['SUSE:Linux Enterprise Server 15 SP5', 'rpm'],
      ['openSUSE:Tumbleweed', 'rpm'], ['Mariner:2.0', 'rpm'], ['Photon OS:5.0', 'rpm'], ['Amazon Linux:2023', 'rpm'],
      ['npm', 'semver'], ['crates.io', 'semver'], ['PyPI', 'pep440'], ['Go', 'go'], ['Maven', 'maven'], ['RubyGems', 'rubygems'],
      ['NuGet', 'nuget'], ['Packagist', 'composer'], ['Pub', 'generic'], ['CRAN', 'generic'], ['', 'generic'],
    ]
    for (const [eco, scheme] of cases) expect(schemeForEcosystem(eco), eco).toBe(scheme)
  })
})
