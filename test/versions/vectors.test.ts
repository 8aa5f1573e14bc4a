import { describe, expect, it } from 'vitest'
import { apk, apkCompare, apkFuzzyMatch } from '../../src/versions/apk.js'
import { dpkg } from '../../src/versions/dpkg.js'
import { generic } from '../../src/versions/generic.js'
import { go, goCanonical } from '../../src/versions/go.js'
import { maven } from '../../src/versions/maven.js'
import { composer } from '../../src/versions/composer.js'
import { nuget } from '../../src/versions/nuget.js'
import { pep440, pep440Contains } from '../../src/versions/pep440.js'
import { compareNevra, parseNevra, rpm } from '../../src/versions/rpm.js'
import { rubygems } from '../../src/versions/rubygems.js'
import { semver, semverSatisfies } from '../../src/versions/semver.js'
import type { Ordering, VersionScheme } from '../../src/versions/types.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { checkComparisons, report, rows, schemeCmp, tally, type Tally } from './vectors.js'

noteSharedMissing('version vectors')

/**
 * Rows of osv-scalibr's hand-written alpine-versions.txt (not generated with apk) on strings no
 * apk version accepts; apk-tools 2 and 3 order them differently from that list.
 */
const OSV_MALFORMED_APK = new Set([
  '1-r-0\t1-r0', '1-r-1\t1-r0', '0.r1\t0r2', '0.8.21.r2\t0.8.21r2', '1.2.0A\t1.2.0d', '1.2.0D\t1.2.0d',
  '1\t1-ruff', '1-ruff2\t1--ruff1',
])

/**
 * KNOWN_DISAGREEMENTS rows where maven.ts (ported from a Maven master later than 540897d, with
 * the `1-ga1 > 1` CombinationItem change) answers differently from that file's `got` column.
 */
const MAVEN_AFTER_540897D = new Set([
  '4.0.16.Final\t4.0.16.Final-jason1', '4.0.17.Final\t4.0.17.Final-wildfly-1', '1.1.3.RELEASE\t1.1.3.RELEASE-A',
  '7.4.3.20\t7.4.3.20-ga20', '7.4.3.21\t7.4.3.21-ga21',
])

function expectClean(file: string, t: Tally): void {
  report(file, t)
  expect(t.wrong, `${file}: unexplained disagreements`).toEqual([])
  expect(t.total).toBeGreaterThan(0)
}

const cmpFile = (file: string, s: VersionScheme, explain?: Parameters<typeof checkComparisons>[2]) => () =>
  expectClean(file, checkComparisons(file, schemeCmp(s), explain))

describe.skipIf(!HAS_SHARED)('version vectors (../shared/data/version)', () => {
  // ---- apk
  it('apk_compare.tsv', cmpFile('apk/apk_compare.tsv', apk))
  it('alpine-versions.tsv', cmpFile('osv-scalibr-semantic/alpine-versions.tsv', apk, (a, b) =>
    OSV_MALFORMED_APK.has(`${a}\t${b}`) ? 'hand-written osv-scalibr row on a malformed version; apk-tools orders it differently (docs/versions.md)' : undefined))
  it('alpine-versions-generated.tsv', cmpFile('osv-scalibr-semantic/alpine-versions-generated.tsv', apk))
  it('apk_validity.tsv', () => {
    const t = tally()
    for (const [v = '', exp] of rows('apk/apk_validity.tsv')) {
      t.total++
      if (apk.isValid(v) === (exp === 'true')) t.agree++
      else t.wrong.push(`${v}: want valid=${exp}`)
    }
    expectClean('apk_validity.tsv', t)
  })
  it('apk_fuzzy.tsv', () => {
    const t = tally()
    for (const [a = '', op, b = '', exp] of rows('apk/apk_fuzzy.tsv')) {
      const r = apkCompare(a, b, true)
      const got = op === '~' ? apkFuzzyMatch(a, b) : op === '!~' ? !apkFuzzyMatch(a, b) : op === '<~' ? r <= 0 : r >= 0
      t.total++
      if (String(got) === exp) t.agree++
      else t.wrong.push(`${a} ${op} ${b}: want ${exp}`)
    }
    expectClean('apk_fuzzy.tsv', t)
  })

  // ---- dpkg
  it('dpkg_compare.tsv', cmpFile('dpkg/dpkg_compare.tsv', dpkg))
  it('debian-versions.tsv', cmpFile('osv-scalibr-semantic/debian-versions.tsv', dpkg))
  it('debian-versions-generated.tsv', cmpFile('osv-scalibr-semantic/debian-versions-generated.tsv', dpkg))

  // ---- rpm
  it('rpm_compare.tsv', cmpFile('rpm/rpm_compare.tsv', rpm))
  it('claircore_rpmvercmp.tsv', cmpFile('rpm/claircore_rpmvercmp.tsv', rpm))
  it('redhat-versions.tsv', cmpFile('osv-scalibr-semantic/redhat-versions.tsv', rpm))
  it('claircore_nevra_compare.tsv', () => expectClean('claircore_nevra_compare.tsv', checkComparisons('rpm/claircore_nevra_compare.tsv', compareNevra)))
  it('claircore_nevra_parse.tsv', () => {
    const t = tally()
    for (const [input = '', name, epoch, version, release, arch] of rows('rpm/claircore_nevra_parse.tsv')) {
      const p = parseNevra(input)
      const got = [p.name ?? '', p.epoch ?? '', p.version, p.release ?? '', p.arch ?? ''].join('|')
      const want = [name, epoch, version, release, arch ?? ''].join('|')
      t.total++
      if (got === want) t.agree++
      else t.wrong.push(`${input}: want ${want}, got ${got}`)
    }
    expectClean('claircore_nevra_parse.tsv', t)
  })

  // ---- semver (npm)
  it('semver_compare.tsv', cmpFile('npm-semver/semver_compare.tsv', semver))
  it('semver-versions.tsv', cmpFile('osv-scalibr-semantic/semver-versions.tsv', semver, (a, b, _w, got) =>
    got === 'invalid' && !semver.isValid(a) ? 'npm semver refuses numbers above 2^53 and more than three parts (docs/versions.md)' : undefined))
  it('semver_range_satisfies.tsv', () => {
    const t = tally()
    for (const [range = '', version = '', exp, opts = ''] of rows('npm-semver/semver_range_satisfies.tsv')) {
      const r = range.replaceAll('\\t', '\t')
      const got = semverSatisfies(version, r, { loose: opts.includes('loose'), includePrerelease: opts.includes('includePrerelease') })
      t.total++
      if (String(got) === exp) t.agree++
      else t.wrong.push(`${version} in ${range} [${opts}]: want ${exp}`)
    }
    expectClean('semver_range_satisfies.tsv', t)
  })

  // ---- pep440
  const legacyPypi = (a: string, b: string, _w: Ordering, got: unknown) =>
    got === 'invalid' && (!pep440.isValid(a) || !pep440.isValid(b)) ? 'legacy non-PEP 440 version, invalid since packaging 22 (PROVENANCE.md)' : undefined
  it('pep440_compare.tsv', cmpFile('pep440/pep440_compare.tsv', pep440))
  it('pypi-versions.tsv', cmpFile('osv-scalibr-semantic/pypi-versions.tsv', pep440, legacyPypi))
  it('pypi-versions-generated.tsv', cmpFile('osv-scalibr-semantic/pypi-versions-generated.tsv', pep440, legacyPypi))
  it('pep440_specifier_contains.tsv', () => {
    const t = tally()
    for (const [spec = '', version = '', exp] of rows('pep440/pep440_specifier_contains.tsv')) {
      t.total++
      if (String(pep440Contains(spec, version)) === exp) t.agree++
      else t.wrong.push(`${version} in ${spec}: want ${exp}`)
    }
    expectClean('pep440_specifier_contains.tsv', t)
  })
  it('pep440_normalized.tsv (each input equals its normal form)', () => {
    const t = tally()
    for (const [input = '', normal = ''] of rows('pep440/pep440_normalized.tsv')) {
      const v = JSON.parse(input) as string
      t.total++
      if (pep440.isValid(v) && pep440.compare(v, normal) === 0) t.agree++
      else t.wrong.push(`${input} != ${normal}`)
    }
    expectClean('pep440_normalized.tsv', t)
  })
  it('pep440_invalid_versions.txt', () => {
    const t = tally()
    for (const [input = ''] of rows('pep440/pep440_invalid_versions.txt')) {
      const v = JSON.parse(input) as string
      t.total++
      let threw = false
      try {
        pep440.compare(v, '1.0')
      } catch (err) {
        threw = (err as { code?: string }).code === 'ERR_VERSION_INVALID'
      }
      if (!pep440.isValid(v) && threw) t.agree++
      else t.wrong.push(`${input} accepted`)
    }
    expectClean('pep440_invalid_versions.txt', t)
  })

  // ---- maven
  const known = new Set((HAS_SHARED ? rows('maven/KNOWN_DISAGREEMENTS_with_maven_master.tsv') : []).flatMap(([a, b]) => [`${a}\t${b}`, `${b}\t${a}`]))
  const mavenMaster = (a: string, b: string) =>
    known.has(`${a}\t${b}`) ? 'current Maven orders this differently (KNOWN_DISAGREEMENTS_with_maven_master.tsv)' : undefined
  it('maven_compare.tsv', cmpFile('maven/maven_compare.tsv', maven))
  it('claircore_maven_compare.tsv', cmpFile('maven/claircore_maven_compare.tsv', maven, mavenMaster))
  it('maven-versions.tsv', cmpFile('osv-scalibr-semantic/maven-versions.tsv', maven, mavenMaster))
  it('maven-versions-generated.tsv', cmpFile('osv-scalibr-semantic/maven-versions-generated.tsv', maven, mavenMaster))
  it('KNOWN_DISAGREEMENTS_with_maven_master.tsv (we follow current Maven)', () => {
    // `got` is what Maven @540897d answers; `0/0` means 0 in both directions
    const data = rows('maven/KNOWN_DISAGREEMENTS_with_maven_master.tsv').map(([a = '', b = '', , got = '']) => [a, b, got.split('/')[0]!])
    const drift = (a: string, b: string) => (MAVEN_AFTER_540897D.has(`${a}\t${b}`) ? 'ported from a later Maven master (docs/versions.md)' : undefined)
    expectClean('KNOWN_DISAGREEMENTS_with_maven_master.tsv', checkComparisons('maven/KNOWN_DISAGREEMENTS_with_maven_master.tsv', schemeCmp(maven), drift, data))
  })

  // ---- go
  it('go_semver_canonical.tsv', () => {
    const t = tally()
    for (const [input = '', canonical = ''] of rows('go-semver/go_semver_canonical.tsv')) {
      t.total++
      if (goCanonical(input) === canonical) t.agree++
      else t.wrong.push(`${input}: want ${canonical}, got ${goCanonical(input)}`)
    }
    expectClean('go_semver_canonical.tsv', t)
  })
  it('go_semver_compare.tsv (x/mod rule: invalid < valid, invalid == invalid)', () => {
    // x/mod requires the `v`; this scheme also takes OSV's v-less spelling, so the table's
    // validity is x/mod's (a non-empty canonical form) and the order is this scheme's.
    const valid = (v: string) => goCanonical(v) !== ''
    const xmod = (a: string, b: string): Ordering => {
      if (!valid(a) || !valid(b)) return valid(a) === valid(b) ? 0 : valid(a) ? 1 : -1
      return go.compare(a, b)
    }
    expectClean('go_semver_compare.tsv', checkComparisons('go-semver/go_semver_compare.tsv', xmod))
  })

  // ---- rubygems, nuget, composer
  it('rubygems-versions.tsv', cmpFile('osv-scalibr-semantic/rubygems-versions.tsv', rubygems))
  it('rubygems-versions-generated.tsv', cmpFile('osv-scalibr-semantic/rubygems-versions-generated.tsv', rubygems))
  it('nuget-versions.tsv', cmpFile('osv-scalibr-semantic/nuget-versions.tsv', nuget))
  it('packagist-versions.tsv', cmpFile('osv-scalibr-semantic/packagist-versions.tsv', composer, (a) =>
    a.includes('#') ? 'PHP canonicalisation drops `#`; osv-scalibr keeps it as the number rank (docs/versions.md)' : undefined))
  it('packagist-versions-generated.tsv', cmpFile('osv-scalibr-semantic/packagist-versions-generated.tsv', composer))

  // ---- ecosystems without a scheme of their own: the generic fallback (docs/versions.md)
  it('cran-versions.tsv', cmpFile('osv-scalibr-semantic/cran-versions.tsv', generic))
  it('cran-versions-generated.tsv', cmpFile('osv-scalibr-semantic/cran-versions-generated.tsv', generic))
  it('hackage-versions.tsv', cmpFile('osv-scalibr-semantic/hackage-versions.tsv', generic))
  it('pub-versions.tsv', () => {
    // Pub is SemVer that also orders build metadata; generic reads `-` as a separator, as CRAN
    // needs (`0.01 < 0.1-0`), so the two cannot both hold. Guard the agreement count instead.
    const t = checkComparisons('osv-scalibr-semantic/pub-versions.tsv', schemeCmp(generic), (a, b) =>
      /[-+]/.test(a + b) ? 'Pub pre-release/build order; no Pub scheme, generic fallback (docs/versions.md)' : undefined)
    expectClean('pub-versions.tsv', t)
    expect(t.agree).toBeGreaterThanOrEqual(80)
  })
})
