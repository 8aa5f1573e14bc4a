import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ANALYZERS } from '../../src/analyzers/index.js'
import { cargoLockAnalyzer } from '../../src/analyzers/cargo-lock.js'
import { composerInstalledAnalyzer, parseComposerLock } from '../../src/analyzers/composer-installed.js'
import { dotnetDepsAnalyzer } from '../../src/analyzers/dotnet-deps.js'
import { gemspecAnalyzer } from '../../src/analyzers/gemspec.js'
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
import { VigilError } from '../../src/errors.js'
import type { Package } from '../../src/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { analyzeTree, type FixtureCase, ids, loadCases } from './lang-harness.js'

noteSharedMissing('language analyzer fixtures')

const TRIVY = (p: string): string => sharedPath('pkgdb', 'trivy', 'pkg', p)

/** Each trivy fixture folder, the ecosystem it counts for, and the analyzer that reads its single-file inputs. */
const DIRS: { dir: string; ecosystem: string; analyzer?: Analyzer }[] = [
  { dir: 'dependency/parser/nodejs/packagejson', ecosystem: 'npm', analyzer: npmPackageAnalyzer },
  { dir: 'dependency/parser/nodejs/npm', ecosystem: 'npm', analyzer: npmLockAnalyzer },
  { dir: 'dependency/parser/nodejs/yarn', ecosystem: 'npm', analyzer: yarnLockAnalyzer },
  { dir: 'dependency/parser/nodejs/pnpm', ecosystem: 'npm', analyzer: pnpmLockAnalyzer },
  { dir: 'fanal/analyzer/language/nodejs/pkg', ecosystem: 'npm', analyzer: npmPackageAnalyzer },
  { dir: 'fanal/analyzer/language/nodejs/npm', ecosystem: 'npm' },
  { dir: 'fanal/analyzer/language/nodejs/yarn', ecosystem: 'npm' },
  { dir: 'dependency/parser/python/packaging', ecosystem: 'PyPI', analyzer: pythonDistAnalyzer },
  { dir: 'fanal/analyzer/language/python/packaging', ecosystem: 'PyPI', analyzer: pythonEggAnalyzer },
  { dir: 'dependency/parser/golang/binary', ecosystem: 'Go', analyzer: langBinaryAnalyzer },
  { dir: 'dependency/parser/java/jar', ecosystem: 'Maven', analyzer: javaArchiveAnalyzer },
  { dir: 'fanal/analyzer/language/java/jar', ecosystem: 'Maven', analyzer: javaArchiveAnalyzer },
  { dir: 'dependency/parser/rust/binary', ecosystem: 'crates.io', analyzer: langBinaryAnalyzer },
  { dir: 'dependency/parser/rust/cargo', ecosystem: 'crates.io', analyzer: cargoLockAnalyzer },
  { dir: 'fanal/analyzer/language/rust/cargo', ecosystem: 'crates.io', analyzer: cargoLockAnalyzer },
  { dir: 'dependency/parser/ruby/gemspec', ecosystem: 'RubyGems', analyzer: gemspecAnalyzer },
  { dir: 'fanal/analyzer/language/ruby/gemspec', ecosystem: 'RubyGems', analyzer: gemspecAnalyzer },
  { dir: 'dependency/parser/php/composer', ecosystem: 'Packagist', analyzer: { ...composerInstalledAnalyzer, parse: (b, c) => ({ packages: parseComposerLock(b, c.path) }) } },
  { dir: 'fanal/analyzer/language/php/composer', ecosystem: 'Packagist', analyzer: composerInstalledAnalyzer },
  { dir: 'dependency/parser/dotnet/core_deps', ecosystem: 'NuGet', analyzer: dotnetDepsAnalyzer },
]

/**
 * Cases Vigil answers differently on purpose, keyed `dir|case name`; each reason is in
 * docs/analyzers-lang.md ("Fixture exceptions").
 */
export const EXCEPTIONS: Record<string, string> = {
  'dependency/parser/java/jar|sha1 search': 'needs Trivy\'s Java DB (sha1 → coordinates); Vigil gives the offline answer, which the "offline" case checks',
  'dependency/parser/java/jar|artifactId search': 'needs Trivy\'s Java DB (artifactId → groupId); the jar has no pom.properties and no usable manifest',
  'fanal/analyzer/language/java/jar|happy path (package found in trivy-java-db by sha1)': 'needs Trivy\'s Java DB (sha1 → coordinates)',
  'fanal/analyzer/language/rust/cargo|happy path': 'Trivy drops dev-dependency crates using Cargo.toml; Vigil reads Cargo.lock alone and lists them',
}

const LANG = [...ANALYZERS.filter((a) => a.kind === 'lang'), ...LOCKFILE_ANALYZERS]

async function run(c: FixtureCase, analyzer: Analyzer | undefined): Promise<Package[]> {
  if (c.inputKind !== 'file') return analyzeTree(LANG, c)
  if (!analyzer) throw new Error(`no analyzer for single-file case ${c.name}`)
  const bytes = readFileSync(join(c.dir, c.input))
  try {
    return (await analyzer.parse(bytes, { path: c.input, size: bytes.length, mode: 0o755 })).packages ?? []
  } catch (err) {
    // Trivy's image analyzers (fanal/…) log a bad file and go on; Vigil's walker records the error
    // and goes on too, so at that level an error means "no packages".
    if (c.dir.includes('/fanal/') && !c.wantErr && VigilError.is(err)) return []
    throw err
  }
}

const tally = new Map<string, { agree: number; total: number; excepted: number; absent: number }>()

describe.skipIf(!HAS_SHARED)('trivy language fixtures', () => {
  afterAll(() => {
    const lines = [...tally].map(([eco, t]) => `${eco.padEnd(10)} ${t.agree}/${t.total} agree, ${t.excepted} documented exceptions, ${t.absent} inputs absent from the snapshot`)
    console.log(`[lang fixtures] per ecosystem:\n${lines.join('\n')}`)
  })

  for (const { dir, ecosystem, analyzer } of DIRS) {
    const full = TRIVY(dir)
    const { cases, absent } = HAS_SHARED ? loadCases(full) : { cases: [], absent: [] }
    const t = tally.get(ecosystem) ?? { agree: 0, total: 0, excepted: 0, absent: 0 }
    t.absent += absent.length
    tally.set(ecosystem, t)
    describe(dir, () => {
      for (const c of cases) {
        const key = `${dir}|${c.name}`
        it(`${c.name} (${c.input})`, async () => {
          if (EXCEPTIONS[key]) {
            t.excepted++
            return
          }
          t.total++
          if (c.wantErr) {
            const err = await run(c, analyzer).then(
              () => undefined,
              (e: unknown) => e,
            )
            expect(VigilError.is(err), `expected a VigilError for ${c.input}`).toBe(true)
          } else {
            const got = ids(await run(c, analyzer))
            const missing = [...c.want].filter((x) => !got.has(x))
            const extra = [...got].filter((x) => !c.want.has(x))
            if (missing.length + extra.length > 0) console.log(`[diff] ${key} missing=${JSON.stringify(missing)} extra=${JSON.stringify(extra).slice(0, 600)}`)
            expect({ missing, extra }).toEqual({ missing: [], extra: [] })
          }
          t.agree++
        })
      }
    })
  }
})
