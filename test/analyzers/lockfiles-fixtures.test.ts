import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { bunLockAnalyzer } from '../../src/analyzers/bun-lock.js'
import { cocoapodsLockAnalyzer } from '../../src/analyzers/cocoapods-lock.js'
import { conanLockAnalyzer } from '../../src/analyzers/conan-lock.js'
import { goModAnalyzer, parseGoModText, parseGoSumText } from '../../src/analyzers/go-mod.js'
import { gradleLockAnalyzer } from '../../src/analyzers/gradle-lock.js'
import { langPackage } from '../../src/analyzers/lang/common.js'
import { mavenPomAnalyzer } from '../../src/analyzers/maven-pom.js'
import { mixLockAnalyzer } from '../../src/analyzers/mix-lock.js'
import { nugetLockAnalyzer } from '../../src/analyzers/nuget-lock.js'
import { nugetPropsAnalyzer } from '../../src/analyzers/nuget-props.js'
import { parseRequirements, pipRequirementsAnalyzer } from '../../src/analyzers/pip-requirements.js'
import { pipenvLockAnalyzer } from '../../src/analyzers/pipenv-lock.js'
import { poetryLockAnalyzer } from '../../src/analyzers/poetry-lock.js'
import { parsePubspecLock, pubspecLockAnalyzer } from '../../src/analyzers/pubspec-lock.js'
import { pylockAnalyzer } from '../../src/analyzers/pylock.js'
import { sbtLockAnalyzer } from '../../src/analyzers/sbt-lock.js'
import { swiftResolvedAnalyzer } from '../../src/analyzers/swift-resolved.js'
import type { Analyzer } from '../../src/analyzers/types.js'
import { uvLockAnalyzer } from '../../src/analyzers/uv-lock.js'
import { VigilError } from '../../src/errors.js'
import type { Package } from '../../src/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { type FixtureCase, ids, loadCases, readTxtar } from './lang-harness.js'

noteSharedMissing('lockfile parser fixtures')

const PARSER = (p: string): string => sharedPath('pkgdb', 'trivy', 'pkg', 'dependency', 'parser', p)

const utf8 = (b: Uint8Array): string => new TextDecoder().decode(b)
/** A parse with one of Trivy's parser options, for the cases that set it. */
type Custom = (bytes: Uint8Array, path: string) => Package[]
const goSum: Analyzer = { ...goModAnalyzer, name: 'go-sum', parse: (b, c) => ({ packages: [...parseGoSumText(utf8(b), c.path)].map(([n, v]) => langPackage('Go', n, v, c.path)) }) }

/** Each trivy parser fixture folder and the analyzer that reads its inputs. */
const DIRS: { dir: string; analyzer: Analyzer; custom?: Record<string, Custom> }[] = [
  {
    dir: 'golang/mod',
    analyzer: goModAnalyzer,
    custom: { 'no replace': (b, p) => parseGoModText(utf8(b), p, { replace: false }).packages.map((m) => langPackage('Go', m.name, m.version, p)) },
  },
  { dir: 'golang/sum', analyzer: goSum },
  { dir: 'python/pip', analyzer: pipRequirementsAnalyzer, custom: { 'compatible versions': (b, p) => parseRequirements(utf8(b), p, { useMinVersion: true }) } },
  { dir: 'python/pipenv', analyzer: pipenvLockAnalyzer },
  { dir: 'python/poetry', analyzer: poetryLockAnalyzer },
  { dir: 'python/uv', analyzer: uvLockAnalyzer },
  { dir: 'python/pylock', analyzer: pylockAnalyzer },
  { dir: 'java/pom', analyzer: mavenPomAnalyzer },
  { dir: 'gradle/lockfile', analyzer: gradleLockAnalyzer },
  { dir: 'sbt/lockfile', analyzer: sbtLockAnalyzer },
  { dir: 'c/conan', analyzer: conanLockAnalyzer },
  { dir: 'nuget/lock', analyzer: nugetLockAnalyzer },
  { dir: 'nuget/packagesprops', analyzer: nugetPropsAnalyzer },
  { dir: 'swift/swift', analyzer: swiftResolvedAnalyzer },
  { dir: 'swift/cocoapods', analyzer: cocoapodsLockAnalyzer },
  { dir: 'dart/pub', analyzer: pubspecLockAnalyzer, custom: { 'use minimum version': (b, p) => parsePubspecLock(utf8(b), p, { useMinVersion: true }) } },
  { dir: 'hex/mix', analyzer: mixLockAnalyzer },
  { dir: 'nodejs/bun', analyzer: bunLockAnalyzer },
]

/**
 * Cases Vigil answers differently on purpose, keyed `dir|case name`; each reason is in
 * docs/analyzers-lang.md ("Lockfile fixture exceptions").
 */
const REPOSITORY =
  'needs POMs from a Maven repository (the Go test serves testdata/repository as ~/.m2 or a remote): transitive dependencies, imported BOMs, parents outside the tree, SNAPSHOT metadata; Vigil reads the source tree only, offline'
const HELPER_BUILT = 'the expected list is built by Go helper calls the extraction could not read (`__func__` entries): the TSV holds only the root'
export const LOCKFILE_EXCEPTIONS: Record<string, string> = {
  'java/pom|remote repository returns 429 Too Many Requests': 'expects an HTTP error from a Maven repository; Vigil makes no requests',
  'java/pom|snapshot repository returns 429 Too Many Requests on maven-metadata.xml': 'expects an HTTP error from a Maven repository; Vigil makes no requests',
  'java/pom|snapshot dependency': REPOSITORY,
  'java/pom|snapshot repository with maven-metadata.xml': REPOSITORY,
  'java/pom|inherit properties in parent depManagement with import scope': REPOSITORY,
  'java/pom|dependencyManagement prefers child properties': REPOSITORY,
  'java/pom|transitive parents': REPOSITORY,
  'java/pom|parent in a remote repository': REPOSITORY,
  'java/pom|soft requirement with transitive dependencies': REPOSITORY,
  'java/pom|hard requirement for the specified version': REPOSITORY,
  'java/pom|import dependencyManagement': REPOSITORY,
  'java/pom|import multiple dependencyManagement': REPOSITORY,
  'java/pom|exclusions': REPOSITORY,
  'java/pom|exclusions in child': REPOSITORY,
  'java/pom|exclusions in child and parent dependency management': REPOSITORY,
  'java/pom|multi module': REPOSITORY,
  'java/pom|multi module with similar deps, but different children': REPOSITORY,
  'java/pom|overwrite artifact version from dependencyManagement in the root POM': REPOSITORY,
  'java/pom|overwrite artifact version from dependencyManagement in the root POM when dependency uses `project.*` props': REPOSITORY,
  'java/pom|transitive dependencyManagement should not be inherited': REPOSITORY,
  'java/pom|dependency from parent uses version from root pom depManagement': REPOSITORY,
  'java/pom|dependency from parent uses version from child pom depManagement': REPOSITORY,
  'java/pom|space at the start and/or end of the text nodes': REPOSITORY,
  "java/pom|don't overwrite test scope from upper depManagement": REPOSITORY,
  'java/pom|inherit scopes from child dependencies and their parents': HELPER_BUILT,
  'java/pom|inherit scopes in children from root pom': HELPER_BUILT,
  'java/pom|inherit scopes in parent from root pom': HELPER_BUILT,
}

async function run(c: FixtureCase, analyzer: Analyzer, custom?: Custom): Promise<Package[]> {
  const bytes = readFileSync(join(c.dir, c.input))
  if (custom) return custom(bytes, c.input)
  // Neighbours of the input, kept inside the fixture folder: a pom's parent and modules. Trivy's
  // go.mod parser alone does not merge go.sum (its analyzer does), so go.mod gets none here.
  if (analyzer !== mavenPomAnalyzer) return (await analyzer.parse(bytes, { path: c.input, size: bytes.length, mode: 0o644 })).packages ?? []
  const folder = dirname(join(c.dir, c.input))
  const readRelative = (rel: string): Uint8Array | undefined => {
    const file = resolve(folder, rel)
    return file.startsWith(c.dir + '/') && existsSync(file) && statSync(file).isFile() ? readFileSync(file) : undefined
  }
  return (await analyzer.parse(bytes, { path: c.input, size: bytes.length, mode: 0o644, readRelative })).packages ?? []
}

const tally = new Map<string, { agree: number; total: number; excepted: number }>()

describe.skipIf(!HAS_SHARED)('trivy lockfile parser fixtures', () => {
  afterAll(() => {
    const lines = [...tally].map(([dir, t]) => `${dir.padEnd(20)} ${t.agree}/${t.total} agree, ${t.excepted} documented exceptions`)
    const all = [...tally.values()].reduce((a, t) => ({ agree: a.agree + t.agree, total: a.total + t.total, excepted: a.excepted + t.excepted }), { agree: 0, total: 0, excepted: 0 })
    console.log(`[lockfile fixtures] per format:\n${lines.join('\n')}\nall: ${all.agree}/${all.total} agree, ${all.excepted} documented exceptions`)
  })

  for (const { dir, analyzer, custom } of DIRS) {
    const { cases } = HAS_SHARED ? loadCases(PARSER(dir), { joinCalls: true }) : { cases: [] }
    const t = { agree: 0, total: 0, excepted: 0 }
    tally.set(dir, t)
    describe(dir, () => {
      it('has cases in the snapshot', () => expect(cases.length).toBeGreaterThan(0))
      for (const c of cases) {
        const key = `${dir}|${c.name}`
        it(`${c.name} (${c.input})`, async () => {
          if (LOCKFILE_EXCEPTIONS[key]) {
            t.excepted++
            return
          }
          t.total++
          if (c.wantErr) {
            const err = await run(c, analyzer, custom?.[c.name]).then(() => undefined, (e: unknown) => e)
            expect(VigilError.is(err), `expected a VigilError for ${c.input}`).toBe(true)
          } else {
            const got = ids(await run(c, analyzer, custom?.[c.name]))
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

/**
 * Trivy's go.mod analyzer level (fs mode): go.mod and go.sum of one txtar tree together, so the
 * pre-1.17 go.sum merge is exercised through `readRelative`.
 */
describe.skipIf(!HAS_SHARED)('trivy go.mod analyzer fixtures (go.mod + go.sum)', () => {
  const dir = sharedPath('pkgdb', 'trivy', 'pkg', 'fanal', 'analyzer', 'language', 'golang', 'mod')
  const { cases } = HAS_SHARED ? loadCases(dir) : { cases: [] }
  it('has txtar cases', () => expect(cases.filter((c) => c.inputKind === 'txtar').length).toBeGreaterThan(3))
  for (const c of cases.filter((x) => x.inputKind === 'txtar')) {
    it(`${c.name} (${c.input})`, async () => {
      const files = readTxtar(readFileSync(join(dir, c.input), 'utf8'))
      const mod = files.get('go.mod')
      const got: Package[] = []
      if (mod !== undefined) {
        const bytes = new TextEncoder().encode(mod)
        const readRelative = (rel: string): Uint8Array | undefined => {
          const t = files.get(rel)
          return t === undefined ? undefined : new TextEncoder().encode(t)
        }
        try {
          got.push(...((await goModAnalyzer.parse(bytes, { path: 'go.mod', size: bytes.length, mode: 0o644, readRelative })).packages ?? []))
        } catch (err) {
          // Trivy's analyzer logs a bad go.mod and goes on; so does Vigil's walker.
          if (!VigilError.is(err)) throw err
        }
      }
      const ids_ = ids(got)
      expect({ missing: [...c.want].filter((x) => !ids_.has(x)), extra: [...ids_].filter((x) => !c.want.has(x)) }).toEqual({ missing: [], extra: [] })
    })
  }
})
