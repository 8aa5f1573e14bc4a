import { describe, expect, it } from 'vitest'
import { langPackage } from '../../src/analyzers/lang/common.js'
import { stdlibVersion } from '../../src/analyzers/lang-binary.js'
import type { LanguageEcosystem } from '../../src/types.js'

/** Purls per the purl spec's type rules (namespace splits, percent-encoding, PyPI normalisation). */
const CASES: [LanguageEcosystem, string, string, string][] = [
  ['npm', '@babel/core', '7.24.0', 'pkg:npm/%40babel/core@7.24.0'],
  ['npm', 'express', '4.18.2', 'pkg:npm/express@4.18.2'],
  ['PyPI', 'Django_Rest-Framework', '3.14.0', 'pkg:pypi/django-rest-framework@3.14.0'],
  ['Go', 'github.com/sirupsen/logrus', 'v1.9.3', 'pkg:golang/github.com/sirupsen/logrus@v1.9.3'],
  ['Go', 'stdlib', 'v1.21.5', 'pkg:golang/stdlib@v1.21.5'],
  ['Maven', 'org.apache.logging.log4j:log4j-core', '2.19.0', 'pkg:maven/org.apache.logging.log4j/log4j-core@2.19.0'],
  ['crates.io', 'serde_json', '1.0.108', 'pkg:cargo/serde_json@1.0.108'],
  ['RubyGems', 'rack', '3.0.8', 'pkg:gem/rack@3.0.8'],
  ['Packagist', 'symfony/http-kernel', 'v6.4.0', 'pkg:composer/symfony/http-kernel@v6.4.0'],
  ['NuGet', 'Newtonsoft.Json', '13.0.3', 'pkg:nuget/Newtonsoft.Json@13.0.3'],
]

describe('language package purls', () => {
  it.each(CASES)('%s %s@%s', (ecosystem, name, version, purl) => {
    const p = langPackage(ecosystem, name, version, 'x')
    expect(p.purl).toBe(purl)
    // The display name stays as the ecosystem wrote it; only the purl is normalised.
    expect(p.name).toBe(name)
    expect(p).toMatchObject({ kind: 'lang', ecosystem, version, path: 'x' })
  })

  it('a Go main module built without a version has a version-less purl', () => {
    expect(langPackage('Go', 'github.com/evanw/esbuild', '', 'usr/local/bin/esbuild').purl).toBe('pkg:golang/github.com/evanw/esbuild')
  })
})

describe('Go toolchain versions', () => {
  it.each([
    ['go1.20', 'v1.20.0'],
    ['go1.21.5', 'v1.21.5'],
    ['go1.22.1 X:loopvar', 'v1.22.1'],
    ['go1.21rc2', 'v1.21.0-rc.2'],
    ['devel go1.23-abcdef', undefined],
  ])('%s → %s', (raw, want) => {
    expect(stdlibVersion(raw)).toBe(want)
    if (want) expect(langPackage('Go', 'stdlib', want, 'x').purl).toBe(`pkg:golang/stdlib@${want}`)
  })

  it('a golang version that is not strict semver keeps its purl, as written (packageurl-js would throw)', () => {
    expect(langPackage('Go', 'example.com/m', 'v1.2', 'usr/bin/m').purl).toBe('pkg:golang/example.com/m@v1.2')
  })
})
