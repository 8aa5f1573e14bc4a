import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { cargoLockAnalyzer } from '../../src/analyzers/cargo-lock.js'
import { composerInstalledAnalyzer } from '../../src/analyzers/composer-installed.js'
import { dotnetDepsAnalyzer } from '../../src/analyzers/dotnet-deps.js'
import { gemspecAnalyzer } from '../../src/analyzers/gemspec.js'
import { ANALYZERS } from '../../src/analyzers/index.js'
import { javaArchiveAnalyzer } from '../../src/analyzers/java-archive.js'
import { langBinaryAnalyzer } from '../../src/analyzers/lang-binary.js'
import { LOCKFILE_ANALYZERS } from '../../src/analyzers/lang/lockfiles.js'
import { npmLockAnalyzer } from '../../src/analyzers/npm-lock.js'
import { npmPackageAnalyzer } from '../../src/analyzers/npm-package.js'
import { pnpmLockAnalyzer } from '../../src/analyzers/pnpm-lock.js'
import { pythonDistAnalyzer } from '../../src/analyzers/python-dist.js'
import { pythonEggAnalyzer } from '../../src/analyzers/python-egg.js'
import type { Analyzer } from '../../src/analyzers/types.js'
import { yarnLockAnalyzer } from '../../src/analyzers/yarn-lock.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'

const file = (path: string, mode = 0o644, size = 10_000) => ({ path, mode, size })

/** path → does the analyzer want it. Written for Vigil's own rules. */
const TABLE: [Analyzer, string, boolean][] = [
  [npmPackageAnalyzer, 'app/node_modules/express/package.json', true],
  [npmPackageAnalyzer, 'node_modules/@babel/core/package.json', true],
  [npmPackageAnalyzer, 'app/package.json', true],
  [npmPackageAnalyzer, 'node_modules/package.json', false],
  [npmPackageAnalyzer, 'node_modules/@babel/package.json', false],
  [npmPackageAnalyzer, 'node_modules/express/lib/package.json', false],
  [npmPackageAnalyzer, 'app/node_modules/express/package-lock.json', false],
  [npmPackageAnalyzer, 'app/xnode_modules/a/b/package.json', true],
  [npmPackageAnalyzer, 'app/package.json.bak', false],
  [npmLockAnalyzer, 'app/package-lock.json', true],
  [npmLockAnalyzer, 'package-lock.json', true],
  [npmLockAnalyzer, 'app/node_modules/x/package-lock.json', false],
  [yarnLockAnalyzer, 'app/yarn.lock', true],
  [yarnLockAnalyzer, 'app/node_modules/x/yarn.lock', false],
  [pnpmLockAnalyzer, 'app/pnpm-lock.yaml', true],
  [pnpmLockAnalyzer, 'app/pnpm-lock.yml', false],
  [pythonDistAnalyzer, 'usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA', true],
  [pythonDistAnalyzer, 'usr/lib/python3/dist-packages/six-1.16.0.egg-info', true],
  [pythonDistAnalyzer, 'usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO', true],
  [pythonDistAnalyzer, 'site-packages/x-1.0.egg/EGG-INFO/PKG-INFO', true],
  [pythonDistAnalyzer, 'site-packages/x-1.0.dist-info/RECORD', false],
  [pythonDistAnalyzer, 'random/PKG-INFO', false],
  [pythonDistAnalyzer, 'random/METADATA', false],
  [pythonEggAnalyzer, 'site-packages/kitchen-1.2.6-py2.7.egg', true],
  [pythonEggAnalyzer, 'site-packages/kitchen-1.2.6-py2.7.egg-info', false],
  [javaArchiveAnalyzer, 'opt/app/app.jar', true],
  [javaArchiveAnalyzer, 'srv/ROOT.war', true],
  [javaArchiveAnalyzer, 'x/y.ear', true],
  [javaArchiveAnalyzer, 'x/y.par', true],
  [javaArchiveAnalyzer, 'x/Y.JAR', true],
  [javaArchiveAnalyzer, 'x/y.jar.sha1', false],
  [javaArchiveAnalyzer, '.jar', false],
  [javaArchiveAnalyzer, 'x/y.zip', false],
  [cargoLockAnalyzer, 'src/app/Cargo.lock', true],
  [cargoLockAnalyzer, 'Cargo.lock', true],
  [cargoLockAnalyzer, 'src/app/Cargo.toml', false],
  [cargoLockAnalyzer, 'src/app/NotCargo.lock', false],
  [gemspecAnalyzer, 'usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec', true],
  [gemspecAnalyzer, 'usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec', true],
  [gemspecAnalyzer, 'app/rake.gemspec', false],
  [composerInstalledAnalyzer, 'var/www/vendor/composer/installed.json', true],
  [composerInstalledAnalyzer, 'vendor/composer/installed.json', true],
  [composerInstalledAnalyzer, 'var/www/composer.json', false],
  [composerInstalledAnalyzer, 'var/www/composer.lock', false],
  [dotnetDepsAnalyzer, 'app/MyApp.deps.json', true],
  [dotnetDepsAnalyzer, 'app/MyApp.runtimeconfig.json', false],
]

describe('language analyzers: match()', () => {
  it.each(TABLE.map(([a, p, want]) => [a.name, p, want] as const))('%s %s → %s', (name, path, want) => {
    const analyzer = [...ANALYZERS, ...LOCKFILE_ANALYZERS].find((a) => a.name === name)!
    expect(analyzer.match(file(path))).toBe(want)
  })

  it('lang-binary takes executables of plausible size by mode, and decides by ELF magic', () => {
    expect(langBinaryAnalyzer.match(file('usr/local/bin/esbuild', 0o755))).toBe(true)
    expect(langBinaryAnalyzer.match(file('opt/tool', 0o700))).toBe(true)
    expect(langBinaryAnalyzer.match(file('usr/local/bin/esbuild', 0o644))).toBe(false)
    expect(langBinaryAnalyzer.match(file('usr/bin/tiny', 0o755, 100))).toBe(false)
    expect(langBinaryAnalyzer.sniff!(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1]))).toBe(true)
    expect(langBinaryAnalyzer.sniff!(new TextEncoder().encode('#!/bin/sh\n'))).toBe(false)
    expect(langBinaryAnalyzer.sniff!(new Uint8Array([0x7f, 0x45]))).toBe(false)
  })

  it('every registered language analyzer has a per-file limit', () => {
    for (const a of ANALYZERS.filter((x) => x.kind === 'lang')) expect(a.maxBytes, a.name).toBeGreaterThan(0)
  })
})

noteSharedMissing('trivy Required() tables')

/** Trivy's own `Required(path)` tables, for the analyzers whose file selection Vigil shares. */
const TRIVY_TABLES: { dir: string; testFile: string; analyzer: Analyzer; keep?: (path: string) => boolean }[] = [
  { dir: 'nodejs/pkg', testFile: 'pkg_test.go', analyzer: npmPackageAnalyzer },
  { dir: 'nodejs/npm', testFile: 'npm_test.go', analyzer: npmLockAnalyzer, keep: (p) => p.endsWith('package-lock.json') },
  // yarn's analyzer also wants node_modules package.json and license files (licences only).
  { dir: 'nodejs/yarn', testFile: 'yarn_test.go', analyzer: yarnLockAnalyzer, keep: (p) => p.endsWith('.lock') || p.endsWith('.json') && !p.endsWith('package.json') },
  { dir: 'java/jar', testFile: 'jar_test.go', analyzer: javaArchiveAnalyzer },
  { dir: 'python/packaging', testFile: 'egg_test.go', analyzer: pythonEggAnalyzer },
  // Trivy also reads dist-info LICENSE files for licences; Vigil does not collect licences.
  { dir: 'python/packaging', testFile: 'packaging_test.go', analyzer: pythonDistAnalyzer, keep: (p) => !p.endsWith('/LICENSE') },
  { dir: 'php/composer', testFile: 'vendor_test.go', analyzer: composerInstalledAnalyzer },
  { dir: 'ruby/gemspec', testFile: 'gemspec_test.go', analyzer: gemspecAnalyzer },
]

describe.skipIf(!HAS_SHARED)('language analyzers: match() against Trivy Required() tables', () => {
  for (const t of TRIVY_TABLES) {
    const rows: [string, boolean][] = []
    if (HAS_SHARED) {
      const expected = JSON.parse(readFileSync(sharedPath('pkgdb', 'trivy', 'pkg', 'fanal', 'analyzer', 'language', ...t.dir.split('/'), 'expected.json'), 'utf8')) as {
        cases: { test_file: string; inputs?: Record<string, unknown>; want?: { want?: unknown } }[]
      }
      for (const c of expected.cases) {
        const path = c.inputs?.filePath ?? c.inputs?.path
        if (!c.test_file.endsWith(`/${t.testFile}`) || typeof path !== 'string' || typeof c.want?.want !== 'boolean') continue
        if (t.keep && !t.keep(path)) continue
        rows.push([path.replace(/^\/+/, ''), c.want.want])
      }
    }
    it(`${t.dir}/${t.testFile}: ${rows.length} paths`, () => {
      expect(rows.length).toBeGreaterThan(0)
      for (const [path, want] of rows) expect(t.analyzer.match(file(path)), path).toBe(want)
    })
  }
})
