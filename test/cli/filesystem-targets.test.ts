import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cargoLockAnalyzer } from '../../src/analyzers/cargo-lock.js'
import { goModAnalyzer } from '../../src/analyzers/go-mod.js'
import { npmLockAnalyzer } from '../../src/analyzers/npm-lock.js'
import { poetryLockAnalyzer } from '../../src/analyzers/poetry-lock.js'
import type { Analyzer } from '../../src/analyzers/types.js'
import { yarnLockAnalyzer } from '../../src/analyzers/yarn-lock.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { CORPUS, hasImage, noteCorpusMissing, readPack } from '../image/corpus.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { scratchDir, vigilSync } from './run.js'

noteSharedMissing('dir: targets over the shared lockfile fixtures')
noteCorpusMissing(['debian-node-app'])

interface Pkg { ecosystem: string; name: string; version: string; purl: string; path?: string; layer?: string }
interface InventoryJson { image: { reference: string; digest: string }; os?: unknown; packages: Pkg[] }

const PARSER = (p: string) => sharedPath('pkgdb', 'trivy', 'pkg', 'dependency', 'parser', p)
/** A checkout of five ecosystems: each fixture at a path where a project keeps it. */
const CHECKOUT: { from: string; to: string; analyzer: Analyzer }[] = [
  { from: 'nodejs/npm/testdata/package-lock_v3.json', to: 'web/package-lock.json', analyzer: npmLockAnalyzer },
  { from: 'nodejs/yarn/testdata/yarn_happy.lock', to: 'tools/ui/yarn.lock', analyzer: yarnLockAnalyzer },
  { from: 'python/poetry/testdata/poetry_normal.lock', to: 'services/api/poetry.lock', analyzer: poetryLockAnalyzer },
  { from: 'golang/mod/testdata/normal/go.mod', to: 'cmd/agent/go.mod', analyzer: goModAnalyzer },
  { from: 'rust/cargo/testdata/cargo_normal.lock', to: 'native/Cargo.lock', analyzer: cargoLockAnalyzer },
]
const keyOf = (p: Pkg) => `${p.purl} ${p.path ?? ''}`

let scratch: { path: string; dispose(): Promise<void> }
beforeAll(async () => {
  ensureBuilt()
  scratch = await scratchDir('vigil-fs-')
}, 300_000)
afterAll(async () => {
  // Extracted image files can be read-only; make them removable first.
  execFileSync('chmod', ['-R', 'u+rwX', scratch.path])
  await scratch?.dispose()
})

describe.skipIf(!HAS_SHARED)('dir: a source tree with lockfiles of several ecosystems', () => {
  let root: string
  let expected: Pkg[]

  beforeAll(async () => {
    root = join(scratch.path, 'checkout')
    for (const f of CHECKOUT) {
      mkdirSync(dirname(join(root, f.to)), { recursive: true })
      copyFileSync(PARSER(f.from), join(root, f.to))
    }
    copyFileSync(PARSER('golang/mod/testdata/normal/go.sum'), join(root, 'cmd/agent/go.sum'))
    // Things a walk must not trip on: a vendored copy to skip, a symlink loop, a README.
    mkdirSync(join(root, 'third_party/vendored'), { recursive: true })
    copyFileSync(PARSER('nodejs/npm/testdata/package-lock_v1.json'), join(root, 'third_party/vendored/package-lock.json'))
    symlinkSync('..', join(root, 'web', 'loop'))
    // What each reader gives for its file alone, at the same path: the walk must add nothing and lose nothing.
    expected = []
    for (const f of [...CHECKOUT, { from: 'nodejs/npm/testdata/package-lock_v1.json', to: 'third_party/vendored/package-lock.json', analyzer: npmLockAnalyzer }]) {
      const bytes = readFileSync(join(root, f.to))
      const readRelative = (rel: string) => {
        try {
          return readFileSync(join(root, dirname(f.to), rel))
        } catch {
          return undefined
        }
      }
      const got = await f.analyzer.parse(bytes, { path: f.to, size: bytes.length, mode: 0o644, readRelative })
      expected.push(...((got.packages ?? []) as Pkg[]))
    }
  })

  it('vigil sbom dir: lists every lockfile\'s packages, as each reader gives them, with their paths', () => {
    const r = vigilSync(['sbom', `dir:${root}`, '-f', 'json', '-q', '--data', join(scratch.path, 'data')])
    expect(r.status, r.stderr).toBe(0)
    const inv = JSON.parse(r.stdout) as InventoryJson
    expect(inv.image.reference).toBe(`dir:${root}`)
    expect(inv.os).toBeUndefined()
    const ecosystems = new Set(inv.packages.map((p) => p.ecosystem))
    expect([...ecosystems].sort()).toEqual(['Go', 'PyPI', 'crates.io', 'npm'])
    for (const f of CHECKOUT) expect(inv.packages.some((p) => p.path === f.to), f.to).toBe(true)
    expect(inv.packages.map(keyOf).sort()).toEqual([...new Set(expected.map(keyOf))].sort())
    // go.sum was read beside go.mod (through readRelative), as the go-mod reader does alone.
    expect(inv.packages.filter((p) => p.ecosystem === 'Go').length).toBe(expected.filter((p) => p.ecosystem === 'Go').length)
  })

  it('--skip-dirs and --skip-files prune the walk (globs relative to the root, comma-separated or repeated)', () => {
    const r = vigilSync(['sbom', `dir:${root}`, '-f', 'json', '-q', '--data', join(scratch.path, 'data'), '--skip-dirs', 'third_party,**/ui', '--skip-files', '**/poetry.lock'])
    expect(r.status, r.stderr).toBe(0)
    const paths = new Set((JSON.parse(r.stdout) as InventoryJson).packages.map((p) => p.path))
    expect([...paths].sort()).toEqual(['cmd/agent/go.mod', 'native/Cargo.lock', 'web/package-lock.json'])
  })

  it('vigil scan dir: reports through the same pipeline, and bad dir: targets are input errors', () => {
    const r = vigilSync(['scan', `dir:${root}`, '-f', 'json', '-q', '--allow-no-data', '--data', join(scratch.path, 'data')])
    expect(r.status, r.stderr).toBe(0)
    expect((JSON.parse(r.stdout) as { packages: number }).packages).toBe(new Set(expected.map(keyOf)).size)
    const missing = vigilSync(['scan', `dir:${join(scratch.path, 'absent')}`, '--data', join(scratch.path, 'data')])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain('ERR_TARGET_NOT_FOUND')
    const file = vigilSync(['scan', `dir:${join(root, 'web/package-lock.json')}`, '--data', join(scratch.path, 'data')])
    expect(file.status).toBe(2)
    expect(file.stderr).toContain('is not a directory')
    const bare = vigilSync(['scan', '.', '--data', join(scratch.path, 'data')])
    expect(bare.status).toBe(2)
    expect(bare.stderr).toContain('dir:. for a source tree')
  })
})

describe.skipIf(!hasImage('debian-node-app'))('rootfs: an unpacked corpus image', () => {
  it('gives the image\'s inventory: the same OS and packages at the same paths', () => {
    const image = join(CORPUS, 'debian-node-app', 'oci')
    const root = join(scratch.path, 'rootfs')
    mkdirSync(root)
    // The image has no whiteouts (its layers only add files), so unpacking them in order is its rootfs.
    for (const layer of readPack('debian-node-app').layers) {
      execFileSync('tar', ['-xf', join(image, 'blobs', 'sha256', layer.blob.digest.slice(7)), '-C', root, '--no-same-owner'])
    }
    const data = join(scratch.path, 'rootfs-data')
    const fromImage = vigilSync(['sbom', `oci:${image}`, '-f', 'json', '-q', '--data', data])
    const fromRootfs = vigilSync(['sbom', `rootfs:${root}`, '-f', 'json', '-q', '--data', data])
    expect(fromImage.status, fromImage.stderr).toBe(0)
    expect(fromRootfs.status, fromRootfs.stderr).toBe(0)
    const a = JSON.parse(fromImage.stdout) as InventoryJson
    const b = JSON.parse(fromRootfs.stdout) as InventoryJson
    expect(b.os).toEqual(a.os)
    expect(a.packages.length).toBeGreaterThan(100)
    const ecosystems = new Set(a.packages.map((p) => p.ecosystem.split(':')[0]))
    expect(ecosystems.has('npm') && ecosystems.has('Debian')).toBe(true)
    const strip = ({ layer: _layer, ...p }: Pkg) => JSON.stringify(p)
    expect(b.packages.map(strip).sort()).toEqual(a.packages.map(strip).sort())

    // --skip-dirs: the walk does not enter app/node_modules; the image's packages found there are dropped.
    const skip = ['--skip-dirs', 'app/node_modules']
    const imageSkipped = JSON.parse(vigilSync(['sbom', `oci:${image}`, '-f', 'json', '-q', '--data', data, ...skip]).stdout) as InventoryJson
    const rootfsSkipped = JSON.parse(vigilSync(['sbom', `rootfs:${root}`, '-f', 'json', '-q', '--data', data, ...skip]).stdout) as InventoryJson
    const underSkipped = a.packages.filter((p) => p.path?.startsWith('app/node_modules/')).length
    expect(underSkipped).toBeGreaterThan(10)
    expect(imageSkipped.packages.length).toBe(a.packages.length - underSkipped)
    expect(rootfsSkipped.packages.map(strip).sort()).toEqual(imageSkipped.packages.map(strip).sort())
  }, 120_000)
})
