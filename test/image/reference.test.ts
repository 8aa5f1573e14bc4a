import { describe, expect, it } from 'vitest'
import { choosePlatform, parsePlatform, platformMatches } from '../../src/image/platform.js'
import { formatTarget, isLoopbackHost, parseTarget } from '../../src/image/reference.js'
import { registryBaseUrl } from '../../src/image/registry.js'
import { fetchToken, parseChallenge } from '../../src/image/registry-auth.js'
import { resolveImage } from '../../src/image/resolve.js'

const D = `sha256:${'ab'.repeat(32)}`

describe('parseTarget', () => {
  it.each([
    ['oci:/data/img', { kind: 'oci', dir: '/data/img' }],
    ['oci:/data/img:v1.2', { kind: 'oci', dir: '/data/img', tag: 'v1.2' }],
    ['oci:./img', { kind: 'oci', dir: './img' }],
    ['docker-archive:/tmp/a.tar', { kind: 'docker-archive', path: '/tmp/a.tar' }],
    ['sbom:bom.json', { kind: 'sbom', path: 'bom.json' }],
    ['alpine:3.19', { kind: 'registry', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: '3.19' }],
    ['alpine', { kind: 'registry', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: 'latest' }],
    ['docker.io/bitnami/redis:7', { kind: 'registry', registry: 'registry-1.docker.io', repository: 'bitnami/redis', tag: '7' }],
    ['ghcr.io/org/team/app:1.0', { kind: 'registry', registry: 'ghcr.io', repository: 'org/team/app', tag: '1.0' }],
    ['127.0.0.1:5000/repo:tag', { kind: 'registry', registry: '127.0.0.1:5000', repository: 'repo', tag: 'tag' }],
    ['localhost/repo', { kind: 'registry', registry: 'localhost', repository: 'repo', tag: 'latest' }],
    [`quay.io/a/b@${D}`, { kind: 'registry', registry: 'quay.io', repository: 'a/b', digest: D }],
    [`quay.io/a/b:1@${D}`, { kind: 'registry', registry: 'quay.io', repository: 'a/b', tag: '1', digest: D }],
    ['http://core:8080/library/app:1', { kind: 'registry', registry: 'core:8080', repository: 'library/app', tag: '1', scheme: 'http' }],
    ['http://core/library/app@' + D, { kind: 'registry', registry: 'core', repository: 'library/app', digest: D, scheme: 'http' }],
    ['https://[::1]:5000/a', { kind: 'registry', registry: '[::1]:5000', repository: 'a', tag: 'latest', scheme: 'https' }],
    ['docker://127.0.0.1:5000/x/y:z', { kind: 'registry', registry: '127.0.0.1:5000', repository: 'x/y', tag: 'z' }],
  ])('%s', (input, expected) => {
    expect(parseTarget(input)).toEqual(expected)
  })

  it.each(['', 'Alpine:3', 'ghcr.io/Org/app', 'repo@sha256:12', 'repo:ta/g', 'repo:', 'oci:', 'docker-archive:', 'sbom:', 'http://repo:1', 'a//b', `bad host!/x`])(
    'rejects %j with ERR_TARGET_INVALID and the accepted syntax',
    (input) => {
      expect(() => parseTarget(input)).toThrowError(expect.objectContaining({ code: 'ERR_TARGET_INVALID', message: expect.stringContaining('oci:DIR[:TAG]') }))
    },
  )

  it('a bare path is told which prefix it needs', () => {
    expect(() => parseTarget('./img.tar')).toThrowError(expect.objectContaining({ code: 'ERR_TARGET_INVALID', message: expect.stringContaining('docker-archive:./img.tar') }))
    expect(() => parseTarget('/data/layout')).toThrowError(expect.objectContaining({ code: 'ERR_TARGET_INVALID', message: expect.stringContaining('oci:/data/layout') }))
  })

  it('round-trips through formatTarget', () => {
    for (const t of ['oci:/a:b', 'docker-archive:/x.tar', `ghcr.io/a/b:1@${D}`, 'http://core:8080/library/app:1']) expect(formatTarget(parseTarget(t))).toBe(t)
  })

  it('resolveImage refuses sbom: targets (scan reads them itself)', async () => {
    await expect(resolveImage('sbom:/tmp/x.json')).rejects.toMatchObject({ code: 'ERR_TARGET_INVALID' })
  })
})

describe('scheme choice', () => {
  it('plain http for loopback, an http URL or insecure; https otherwise', () => {
    for (const h of ['127.0.0.1:5000', '127.9.9.9', 'localhost:80', '[::1]:5000']) expect(isLoopbackHost(h)).toBe(true)
    for (const h of ['128.0.0.1', 'localhost.example.com', 'ghcr.io', '10.0.0.1:5000']) expect(isLoopbackHost(h)).toBe(false)
    expect(registryBaseUrl('127.0.0.1:5000', {})).toBe('http://127.0.0.1:5000')
    expect(registryBaseUrl('ghcr.io', {})).toBe('https://ghcr.io')
    expect(registryBaseUrl('core:8080', { scheme: 'http' })).toBe('http://core:8080')
    expect(registryBaseUrl('reg.lan:5000', { insecure: true })).toBe('http://reg.lan:5000')
  })
})

describe('platforms', () => {
  it('parses and normalises os/arch[/variant]', () => {
    expect(parsePlatform('linux/arm64')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' })
    expect(parsePlatform('linux/aarch64')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' })
    expect(parsePlatform('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' })
    expect(() => parsePlatform('linux')).toThrowError(expect.objectContaining({ code: 'ERR_USAGE' }))
  })

  it('arm64 without a variant matches v8 and no variant, not v9; arm/v7 is not arm/v6', () => {
    const want = parsePlatform('linux/arm64')
    expect(platformMatches(want, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true)
    expect(platformMatches(want, { os: 'linux', architecture: 'arm64' })).toBe(true)
    expect(platformMatches(want, { os: 'linux', architecture: 'arm64', variant: 'v9' })).toBe(false)
    expect(platformMatches(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(false)
  })

  it('skips attestation entries (unknown/unknown) and lists what is there', () => {
    const entries = [
      { platform: { os: 'unknown', architecture: 'unknown' }, item: 'att' },
      { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, item: 'arm' },
    ]
    expect(choosePlatform(entries, parsePlatform('linux/arm64'), 'x').item).toBe('arm')
    expect(() => choosePlatform(entries, parsePlatform('linux/amd64'), 'x')).toThrowError(expect.objectContaining({ code: 'ERR_PLATFORM_NOT_FOUND', message: expect.stringContaining('available: linux/arm64/v8') }))
  })
})

describe('WWW-Authenticate', () => {
  it('reads Bearer and Basic challenges with quoted and bare parameters', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
    })
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } })
    expect(parseChallenge('Basic realm=x, Bearer realm="https://t/\\"q\\"", service=s')).toEqual({ scheme: 'bearer', params: { realm: 'https://t/"q"', service: 's' } })
    expect(parseChallenge('Negotiate abc')).toBeUndefined()
    expect(parseChallenge(null)).toBeUndefined()
  })

  it('never sends a password to a plain-http realm of an https registry; a realm must be an http(s) URL', async () => {
    const basic = { kind: 'basic' as const, username: 'u', password: 'p' }
    const http = { retry: { attempts: 1 } }
    await expect(fetchToken({ scheme: 'bearer', params: { realm: 'http://auth.example.invalid/token' } }, 'repository:a:pull', basic, http, 'https://reg.example')).rejects.toMatchObject({ code: 'ERR_REGISTRY_AUTH' })
    await expect(fetchToken({ scheme: 'bearer', params: {} }, 'repository:a:pull', basic, http, 'https://reg.example')).rejects.toMatchObject({ code: 'ERR_REGISTRY_PROTOCOL' })
    await expect(fetchToken({ scheme: 'bearer', params: { realm: 'file:///etc/passwd' } }, 'repository:a:pull', undefined, http, 'https://reg.example')).rejects.toMatchObject({ code: 'ERR_REGISTRY_PROTOCOL' })
  })
})
