import { describe, expect, it } from 'vitest'
import { makePurl, parsePurl, purlWithoutQualifiers } from '../../src/sbom/purl.js'

describe('purls', () => {
  it('builds the spec forms with qualifiers in key order', () => {
    expect(makePurl('deb', 'debian', 'libc6', '2.36-9+deb12u4', { arch: 'amd64', distro: 'debian-12', epoch: undefined })).toBe(
      'pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12',
    )
    expect(makePurl('maven', 'org.apache.logging.log4j', 'log4j-core', '2.19.0')).toBe('pkg:maven/org.apache.logging.log4j/log4j-core@2.19.0')
  })

  it('keeps Go versions that are not strict semver (a packageurl-js defect throws on them)', () => {
    const purl = makePurl('golang', 'github.com/evanw', 'esbuild', 'v1.9', { type: 'module' })
    expect(purl).toBe('pkg:golang/github.com/evanw/esbuild@v1.9?type=module')
    const back = parsePurl(purl)
    expect([back.namespace, back.name, back.version]).toEqual(['github.com/evanw', 'esbuild', 'v1.9'])
    expect(purlWithoutQualifiers(purl)).toBe('pkg:golang/github.com/evanw/esbuild@v1.9')
  })

  it('drops qualifiers and subpath for comparisons', () => {
    expect(purlWithoutQualifiers('pkg:rpm/redhat/curl@7.76.0-6.cm2?arch=x86_64&epoch=1#sub')).toBe('pkg:rpm/redhat/curl@7.76.0-6.cm2')
  })
})
