import { existsSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cargoLockAnalyzer } from '../../src/analyzers/cargo-lock.js'
import { composerInstalledAnalyzer } from '../../src/analyzers/composer-installed.js'
import { gemspecAnalyzer } from '../../src/analyzers/gemspec.js'
import { ANALYZERS } from '../../src/analyzers/index.js'
import { composerLockAnalyzer, LOCKFILE_ANALYZERS } from '../../src/analyzers/lang/lockfiles.js'
import { npmLockAnalyzer } from '../../src/analyzers/npm-lock.js'
import { npmPackageAnalyzer } from '../../src/analyzers/npm-package.js'
import { pnpmLockAnalyzer } from '../../src/analyzers/pnpm-lock.js'
import { pythonDistAnalyzer } from '../../src/analyzers/python-dist.js'
import type { Analyzer } from '../../src/analyzers/types.js'
import { yarnLockAnalyzer } from '../../src/analyzers/yarn-lock.js'
import type { Package } from '../../src/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { analyzeTree, ids } from './lang-harness.js'

noteSharedMissing('syft language fixtures')

const ECOSYSTEMS = ['javascript', 'python', 'golang', 'java', 'rust', 'ruby', 'php', 'dotnet']

/** Which analyzer reads a single syft input file, by the file's name. */
function analyzerFor(path: string): Analyzer | undefined {
  const name = basename(path)
  if (path.includes('/pkg-json/') || name === 'package.json') return npmPackageAnalyzer
  if (/package-lock.*\.json$/.test(name)) return npmLockAnalyzer
  if (name === 'yarn.lock') return yarnLockAnalyzer
  if (name === 'pnpm-lock.yaml') return pnpmLockAnalyzer
  if (name === 'METADATA' || name === 'PKG-INFO') return pythonDistAnalyzer
  if (name.startsWith('Cargo.lock')) return cargoLockAnalyzer
  if (name.endsWith('.gemspec')) return gemspecAnalyzer
  if (name === 'installed.json') return composerInstalledAnalyzer
  if (name === 'composer.lock') return composerLockAnalyzer
  return undefined
}

/**
 * syft cases Vigil answers differently on purpose, keyed `<ecosystem>|<input>`; reasons are in
 * docs/analyzers-lang.md ("syft fixtures").
 */
const EXCEPTIONS: Record<string, string> = {
  'javascript|["testdata/pkg-lock"]': 'syft drops dev dependencies of package-lock.json (async, dev: true); Vigil lists them as Trivy\'s parser does',
  'javascript|["testdata/pkg-lock/package-lock.json"]': 'same dev dependency (async)',
  'javascript|["testdata/pkg-lock/nested-package-lock-1.json"]': 'syft drops dev dependencies (dev-parent, dev-nested)',
  'javascript|["testdata/pkg-lock/package-lock-2.json"]': 'extraction artefact: rows of other tests in the same Go function, plus a dev dependency',
  'javascript|["testdata/pkg-lock/package-lock-3.json"]': 'extraction artefact: rows of other tests in the same Go function, plus a dev dependency',
  'javascript|["testdata/pkg-lock/array-license-package-lock.json"]': 'extraction artefact: rows of other tests in the same Go function',
  'javascript|["testdata/pnpm/pnpm-lock.yaml"]': 'extraction artefact: rows of the remote-licence test in the same file',
  'javascript|["testdata/pnpm-v6/pnpm-lock.yaml"]': 'extraction artefact: rows of other tests in the same Go function',
  'javascript|["testdata/pnpm-v5-peer-suffix/pnpm-lock.yaml"]': 'extraction artefact: rows of other tests in the same Go function',
  'javascript|["testdata/pnpm-v9-snapshots/pnpm-lock.yaml"]': 'extraction artefact: rows of other tests in the same Go function',
  'javascript|["testdata/pnpm-multi-doc/pnpm-lock.yaml"]': 'syft reads every YAML document (pnpm\'s own env lockfile too); Vigil and Trivy read the project document only',
  'javascript|["testdata/yarn-berry/yarn.lock"]': 'extraction artefact, and syft names packages from the resolved URL; Vigil from the entry (as Trivy)',
  'javascript|["testdata/yarn/yarn.lock"]': 'syft names c0n-fab_u.laTION after its resolved URL (something-i-made-up); Vigil uses the entry name, as Trivy',
  'javascript|["testdata/yarn-v1-deps/yarn.lock"]': 'as yarn/yarn.lock, plus extraction artefacts',
  'javascript|["testdata/yarn-dups/yarn.lock"]': 'syft renames from the resolved URL (@4lolo/…) and keeps a git source; Vigil uses the entry name and skips git sources, as Trivy',
  'java|testdata/pom/example-java-app-maven': 'syft names Maven packages by artifactId alone and lists test-scope junit; Vigil names group:artifact (as Trivy) and skips test scope',
  'java|testdata/pom/transitive-top-level': 'syft resolves parents and transitive dependencies from a Maven repository; Vigil reads the source tree offline (docs: pom.xml, offline)',
  'python|testdata/site-packages/nested': 'syft fixture folders are named bare `dist-info` / `egg-info`; installers always write `<name>-<version>.dist-info`, which is what Vigil matches',
  'python|testdata/site-packages/uppercase': 'as nested (bare DIST-INFO folder names)',
  'python|testdata/site-packages/license': 'as nested (bare dist-info folder names)',
  'python|testdata/site-packages/malformed-record': 'as nested (bare dist-info folder names)',
  'python|testdata/site-packages/partial.dist-info': 'as nested (bare dist-info folder names)',
  'rust|["testdata/Cargo.lock-with-git-deps"]': 'extraction artefact: memchr 2.3.3 / nom 4.2.3 come from a helper map in the test file, not this lock',
  'rust|["testdata/path-deps/Cargo.lock"]': 'extraction artefact (memchr 2.3.3, as above)',
  'php|["testdata/composer.lock"]': 'syft drops packages-dev; Vigil\'s composer.lock reader keeps them, as Trivy\'s parser',
  'dotnet|["testdata/dir-example-1"]': 'two libraries have no runtime assets under the runtime target (they come from the shared framework); Vigil leaves them out, as Trivy',
}

interface Group {
  eco: string
  input: string
  paths: string[]
  want: Set<string>
}

function groups(eco: string): Group[] {
  const dir = sharedPath('pkgdb', 'syft', 'syft', 'pkg', 'cataloger', eco)
  const by = new Map<string, Group>()
  for (const line of readFileSync(join(dir, 'expected_packages.tsv'), 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const [input = '', , name, version] = line.split('\t')
    let paths: string[]
    try {
      paths = input.startsWith('[') ? (JSON.parse(input) as unknown[]).filter((p): p is string => typeof p === 'string') : [input]
    } catch {
      continue // a row whose input column is not a path (extraction artefact)
    }
    if (paths.length !== 1 || !paths[0] || !name) continue
    const g = by.get(input) ?? { eco, input, paths: paths.map((p) => join(dir, p)), want: new Set<string>() }
    g.want.add(`${name}@${version ?? ''}`)
    by.set(input, g)
  }
  return [...by.values()].filter((g) => g.paths.every((p) => existsSync(p)))
}

async function run(g: Group): Promise<Package[] | undefined> {
  const path = g.paths[0]!
  if (statSync(path).isDirectory()) {
    const stats = { matched: 0 }
    const got = await analyzeTree([...ANALYZERS.filter((a) => a.kind === 'lang'), ...LOCKFILE_ANALYZERS], { dir: path, input: '.', inputKind: 'dir', name: g.input, wantErr: false, want: g.want }, stats)
    return stats.matched > 0 ? got : undefined
  }
  const analyzer = analyzerFor(path)
  if (!analyzer) return undefined
  const bytes = readFileSync(path)
  return (await analyzer.parse(bytes, { path: g.input, size: bytes.length, mode: 0o644 })).packages ?? []
}

const tally = new Map<string, { agree: number; total: number; excepted: number; unsupported: number }>()

describe.skipIf(!HAS_SHARED)('syft language fixtures (approximate extraction)', () => {
  afterAll(() => {
    console.log(`[syft fixtures] per ecosystem:\n${[...tally].map(([e, t]) => `${e.padEnd(10)} ${t.agree}/${t.total} agree, ${t.excepted} documented exceptions, ${t.unsupported} inputs in formats Vigil does not read`).join('\n')}`)
  })
  for (const eco of ECOSYSTEMS) {
    const list = HAS_SHARED ? groups(eco) : []
    const t = { agree: 0, total: 0, excepted: 0, unsupported: 0 }
    tally.set(eco, t)
    describe(eco, () => {
      for (const g of list) {
        it(g.input, async () => {
          const got = await run(g)
          if (!got) {
            t.unsupported++
            return
          }
          if (EXCEPTIONS[`${eco}|${g.input}`]) {
            t.excepted++
            return
          }
          t.total++
          const have = ids(got)
          const missing = [...g.want].filter((x) => !have.has(x))
          const extra = [...have].filter((x) => !g.want.has(x))
          if (missing.length + extra.length > 0) console.log(`[diff] ${eco}|${g.input} missing=${JSON.stringify(missing).slice(0, 400)} extra=${JSON.stringify(extra).slice(0, 400)}`)
          expect({ missing, extra }).toEqual({ missing: [], extra: [] })
          t.agree++
        })
      }
    })
  }
})
