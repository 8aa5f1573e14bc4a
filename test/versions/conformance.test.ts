import { describe, expect, it } from 'vitest'
import { VigilError } from '../../src/errors.js'
import { SCHEMES } from '../../src/versions/index.js'
import type { SchemeName, VersionScheme } from '../../src/versions/types.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { rows } from './vectors.js'
import { seeded } from '../../bench/reassess-fleet.js'

noteSharedMissing('version conformance samples (falling back to the built-in samples)')

/** Where each scheme's sample versions come from (both columns of the comparison files). */
const SAMPLE_FILES: Record<SchemeName, string[]> = {
  dpkg: ['dpkg/dpkg_compare.tsv', 'osv-scalibr-semantic/debian-versions-generated.tsv'],
  apk: ['apk/apk_compare.tsv', 'osv-scalibr-semantic/alpine-versions-generated.tsv'],
  rpm: ['rpm/rpm_compare.tsv', 'osv-scalibr-semantic/redhat-versions.tsv'],
  semver: ['npm-semver/semver_compare.tsv', 'osv-scalibr-semantic/semver-versions.tsv'],
  pep440: ['pep440/pep440_compare.tsv', 'osv-scalibr-semantic/pypi-versions-generated.tsv'],
  go: ['go-semver/go_semver_compare.tsv'],
  maven: ['maven/maven_compare.tsv', 'osv-scalibr-semantic/maven-versions-generated.tsv'],
  rubygems: ['osv-scalibr-semantic/rubygems-versions-generated.tsv', 'osv-scalibr-semantic/rubygems-versions.tsv'],
  nuget: ['osv-scalibr-semantic/nuget-versions.tsv'],
  composer: ['osv-scalibr-semantic/packagist-versions-generated.tsv', 'osv-scalibr-semantic/packagist-versions.tsv'],
  generic: ['osv-scalibr-semantic/cran-versions-generated.tsv', 'osv-scalibr-semantic/hackage-versions.tsv'],
}

/** Used when ../shared is absent, so the properties still run. */
const BUILT_IN = ['0', '1', '1.0', '1.0.0', '1.0.1', '1.2', '1.10', '2.0', '10.0', '1.0.0-1', '1.0-1', '1.0rc1', '1.0.0-rc.1', '2.0.0-beta.2', '0.9.9', '0.0.1', '1.2.3', '1.2.10', '3.0.0-alpha', '3.0.0-alpha.1', '3.0.0', '10.0.0']

function sample(s: VersionScheme, n: number): string[] {
  const pool = new Set<string>(BUILT_IN)
  if (HAS_SHARED) for (const f of SAMPLE_FILES[s.name]) for (const [a, b] of rows(f)) pool.add(a ?? '').add(b ?? '')
  const valid = [...pool].filter((v) => s.isValid(v))
  const rand = seeded(0x5eed)
  for (let i = valid.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[valid[i], valid[j]] = [valid[j]!, valid[i]!]
  }
  return valid.slice(0, n)
}

describe('every registered scheme is a total order', () => {
  it('registers each scheme name once', () => {
    const names = SCHEMES.map((s) => s.name)
    expect(new Set(names).size).toBe(names.length)
    expect(names.sort()).toEqual(['apk', 'composer', 'dpkg', 'generic', 'go', 'maven', 'nuget', 'pep440', 'rpm', 'rubygems', 'semver'])
  })

  for (const scheme of SCHEMES) {
    describe(scheme.name, () => {
      const vs = sample(scheme, 150)

      it('has a sample to check', () => {
        expect(vs.length).toBeGreaterThanOrEqual(10)
      })

      it('is reflexive and antisymmetric', () => {
        for (const a of vs) {
          expect(scheme.compare(a, a), a).toBe(0)
          for (const b of vs) {
            const ab = scheme.compare(a, b)
            if (ab !== -scheme.compare(b, a)) expect.fail(`${a} vs ${b}: ${ab} both ways`)
          }
        }
      })

      it('is transitive (sorting the sample leaves every pair in order)', () => {
        const sorted = [...vs].sort((a, b) => scheme.compare(a, b))
        for (let i = 0; i < sorted.length; i++) {
          for (let j = i + 1; j < sorted.length; j++) {
            const r = scheme.compare(sorted[i]!, sorted[j]!)
            if (r > 0) expect.fail(`${sorted[i]} > ${sorted[j]} after sorting`)
          }
        }
      })

      it('treats equality transitively on random triples', () => {
        const rand = seeded(42)
        const pick = () => vs[Math.floor(rand() * vs.length)]!
        for (let k = 0; k < 5000; k++) {
          const [a, b, c] = [pick(), pick(), pick()]
          const ab = scheme.compare(a, b)
          const bc = scheme.compare(b, c)
          if (ab <= 0 && bc <= 0 && scheme.compare(a, c) > 0) expect.fail(`${a} <= ${b} <= ${c} but ${a} > ${c}`)
          if (ab >= 0 && bc >= 0 && scheme.compare(a, c) < 0) expect.fail(`${a} >= ${b} >= ${c} but ${a} < ${c}`)
        }
      })

      it('refuses the empty string with ERR_VERSION_INVALID', () => {
        expect(scheme.isValid('')).toBe(false)
        let err: unknown
        try {
          scheme.compare('', vs[0]!)
        } catch (e) {
          err = e
        }
        expect(VigilError.is(err) && err.code).toBe('ERR_VERSION_INVALID')
      })
    })
  }
})
