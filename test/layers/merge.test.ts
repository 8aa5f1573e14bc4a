import { describe, expect, it } from 'vitest'
import { mergeLayers, visibleResults } from '../../src/layers/merge.js'
import type { FileReport, LayerReport } from '../../src/layers/types.js'
import type { Digest, Package } from '../../src/types.js'

const D = (n: number) => `sha256:${String(n).repeat(64)}` as Digest

function os(name: string, version: string, path = 'var/lib/dpkg/status'): Package {
  return { ecosystem: '', name, version, purl: '', path, kind: 'os' }
}
function npm(name: string, version: string, path: string): Package {
  return { ecosystem: 'npm', name, version, purl: `pkg:npm/${name}@${version}`, path, kind: 'lang' }
}
function file(path: string, analyzer: string, packages: Package[], extra: Partial<FileReport['result']> = {}): FileReport {
  return { path, analyzer, result: { packages, ...extra } }
}
function layer(n: number, parts: Partial<LayerReport>): LayerReport {
  return { digest: D(n), files: [], whiteouts: [], opaqueDirs: [], shadows: [], errors: [], stats: { bytesIn: 0, bytesOut: 0, entries: 0, matched: 0, compression: 'gzip' }, ...parts }
}
const names = (ps: Package[]) => ps.map((p) => `${p.name}@${p.version}`).sort()

describe('mergeLayers', () => {
  it('a later package database replaces the earlier one whole; attribution follows name+version', () => {
    const merged = mergeLayers([
      layer(1, { files: [file('var/lib/dpkg/status', 'dpkg', [os('openssl', '3.0.1'), os('zlib', '1.2'), os('old', '1')])] }),
      layer(2, { files: [file('var/lib/dpkg/status', 'dpkg', [os('openssl', '3.0.1'), os('zlib', '1.2'), os('old', '1'), os('curl', '8')])] }),
      layer(3, { files: [file('var/lib/dpkg/status', 'dpkg', [os('openssl', '3.0.2'), os('zlib', '1.2'), os('curl', '8')])] }),
    ])
    expect(names(merged.packages)).toEqual(['curl@8', 'openssl@3.0.2', 'zlib@1.2'])
    const layerOf = Object.fromEntries(merged.packages.map((p) => [p.name, p.layer]))
    expect(layerOf).toEqual({ openssl: D(3), zlib: D(1), curl: D(2) })
    expect(merged.files.map((f) => [f.path, f.layer])).toEqual([['var/lib/dpkg/status', D(3)]])
  })

  it('a package rewritten in a later layer at the same version keeps its first layer', () => {
    const merged = mergeLayers([
      layer(1, { files: [file('var/lib/dpkg/status', 'dpkg', [os('openssl', '3.0.1')])] }),
      layer(2, { files: [file('var/lib/dpkg/status', 'dpkg', [os('openssl', '3.0.1'), os('python3-yaml', '6')])] }),
      layer(3, { files: [file('var/lib/dpkg/status', 'dpkg', [os('openssl', '3.0.1')])] }),
    ])
    expect(merged.packages).toEqual([{ ...os('openssl', '3.0.1'), layer: D(1) }])
  })

  it('whiteouts delete the path and everything below it, never files of their own layer', () => {
    const merged = mergeLayers([
      layer(1, {
        files: [
          file('app/node_modules/a/package.json', 'npm', [npm('a', '1', 'app/node_modules/a/package.json')]),
          file('app/node_modules/ab/package.json', 'npm', [npm('ab', '1', 'app/node_modules/ab/package.json')]),
          file('app/node_modules/a/node_modules/b/package.json', 'npm', [npm('b', '1', 'app/node_modules/a/node_modules/b/package.json')]),
        ],
      }),
      layer(2, {
        whiteouts: ['app/node_modules/a', 'app/node_modules/c'],
        files: [file('app/node_modules/c/package.json', 'npm', [npm('c', '2', 'app/node_modules/c/package.json')])],
      }),
    ])
    // `ab` shares a prefix with the whited-out `a` but is not below it.
    expect(names(merged.packages)).toEqual(['ab@1', 'c@2'])
  })

  it('an opaque dir hides lower layers below it but keeps its own layer and the dir’s siblings', () => {
    const merged = mergeLayers([
      layer(1, {
        files: [
          file('opt/app/config/a/package.json', 'npm', [npm('a', '1', 'opt/app/config/a/package.json')]),
          file('opt/app/other/package.json', 'npm', [npm('o', '1', 'opt/app/other/package.json')]),
        ],
      }),
      layer(2, {
        opaqueDirs: ['opt/app/config'],
        files: [file('opt/app/config/c/package.json', 'npm', [npm('c', '1', 'opt/app/config/c/package.json')])],
      }),
    ])
    expect(names(merged.packages)).toEqual(['c@1', 'o@1'])
  })

  it('a symlink over a lower file hides it; a root whiteout-all opaque hides everything', () => {
    const base = layer(1, { files: [file('var/lib/dpkg/status', 'dpkg', [os('a', '1')]), file('etc/os-release', 'os-release', [], { os: { family: 'debian', version: '12' } })] })
    expect(mergeLayers([base, layer(2, { shadows: ['var/lib/dpkg/status'] })]).packages).toEqual([])
    const merged = mergeLayers([base, layer(2, { opaqueDirs: [''] })])
    expect(merged.files).toEqual([])
  })

  it('language packages are told apart by path; the same one in two places is two packages', () => {
    const merged = mergeLayers([
      layer(1, { files: [file('a/node_modules/x/package.json', 'npm', [npm('x', '1', 'a/node_modules/x/package.json')])] }),
      layer(2, { files: [file('b/node_modules/x/package.json', 'npm', [npm('x', '1', 'b/node_modules/x/package.json')])] }),
    ])
    expect(merged.packages.map((p) => [p.path, p.layer])).toEqual([
      ['a/node_modules/x/package.json', D(1)],
      ['b/node_modules/x/package.json', D(2)],
    ])
  })

  it('collects visible OS facts and owned files, and tags each error with its layer', () => {
    const merged = mergeLayers([
      layer(1, { files: [file('etc/os-release', 'os-release', [], { os: { family: 'debian', version: '11' } }), file('var/lib/dpkg/info/a.list', 'dpkg-files', [], { ownedFiles: ['usr/bin/a'] })] }),
      layer(2, {
        files: [file('etc/os-release', 'os-release', [], { os: { family: 'debian', version: '12' } })],
        errors: [{ code: 'ERR_FILE_TOO_LARGE', message: 'big', retryable: false }],
      }),
    ])
    const { os: facts, ownedFiles } = visibleResults(merged.files)
    expect(facts).toEqual([{ path: 'etc/os-release', os: { family: 'debian', version: '12' } }])
    expect([...ownedFiles]).toEqual(['usr/bin/a'])
    expect(merged.errors).toEqual([{ code: 'ERR_FILE_TOO_LARGE', message: 'big', retryable: false, details: { layer: D(2) } }])
  })
})
