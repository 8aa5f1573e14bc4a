import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ANALYZERS } from '../../src/analyzers/index.js'
import { LOCKFILE_ANALYZERS } from '../../src/analyzers/lang/lockfiles.js'
import { VigilError } from '../../src/errors.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'

noteSharedMissing('trivy integration goldens (package lists)')

const ROOT = sharedPath('e2e', 'trivy-integration')
const LANG = [...ANALYZERS.filter((a) => a.kind === 'lang'), ...LOCKFILE_ANALYZERS]

/**
 * Goldens made with `listAllPkgs` carry every package Trivy found per file; these compare that
 * list with what the readers give for the same file (the e2e suite compares only findings).
 * Trivy's fs analyzers drop dev packages where the lockfile marks them; Vigil's readers keep
 * them (no dev flag in Package), so those extras are named here, each checked to exist.
 */
const DEV_ONLY: Record<string, string[]> = {
  'bun.lock': ['@types/bun@1.2.14', '@types/node@22.15.21', 'bun-types@1.2.14', 'undici-types@6.21.0'],
}

/** Files of the readers this suite covers; npm/yarn/pnpm/Cargo lists are lang-fixtures' business. */
const COVERED = new Set(['bun.lock', 'requirements.txt', 'Pipfile.lock', 'poetry.lock', 'uv.lock', 'pylock.toml', 'conan.lock', 'packages.lock.json',
  'Directory.Packages.props', 'Package.resolved', 'Podfile.lock', 'pubspec.lock', 'mix.lock', 'installed.json', 'pom.xml', 'gradle.lockfile', 'build.sbt.lock', 'go.mod'])

interface Golden { Results?: { Target: string; Packages?: { Name: string; Version: string }[] }[] }
interface Case { name: string; args?: { input?: string; listAllPkgs?: boolean; format?: string }; golden: string }

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]))
}

describe.skipIf(!HAS_SHARED)('trivy goldens: package lists of lockfile cases', () => {
  const cases = HAS_SHARED ? (JSON.parse(readFileSync(join(ROOT, 'cases_from_integration_tests.json'), 'utf8')) as Case[]) : []
  const listed = cases.filter((c) => c.args?.listAllPkgs && !c.args.format && String(c.args.input).includes('fixtures/repo/') && existsSync(join(ROOT, c.golden)))
  it('has cases', () => expect(listed.length).toBeGreaterThan(15))
  for (const c of listed) {
    it(c.name, async () => {
      const input = join(ROOT, String(c.args!.input))
      const got = new Map<string, Set<string>>()
      for (const file of walk(input)) {
        const info = {
          path: relative(input, file), size: statSync(file).size, mode: 0o644,
          readRelative: (rel: string) => {
            const near = resolve(dirname(file), rel)
            return near.startsWith(input + '/') && existsSync(near) ? readFileSync(near) : undefined
          },
        }
        for (const a of LANG) {
          if (!a.match(info)) continue
          try {
            for (const p of (await a.parse(readFileSync(file), info)).packages ?? []) {
              if (!got.has(p.path)) got.set(p.path, new Set())
              got.get(p.path)!.add(`${p.name}@${p.version}`)
            }
          } catch (err) {
            if (!VigilError.is(err)) throw err
          }
        }
      }
      const golden = JSON.parse(readFileSync(join(ROOT, c.golden), 'utf8')) as Golden
      for (const r of golden.Results ?? []) {
        if (!r.Packages || !COVERED.has(r.Target.split('/').pop()!)) continue
        const want = new Set(r.Packages.map((p) => `${p.Name}@${p.Version}`))
        const mine = got.get(r.Target) ?? new Set<string>()
        const missing = [...want].filter((x) => !mine.has(x))
        const dev = DEV_ONLY[r.Target] ?? []
        const extra = [...mine].filter((x) => !want.has(x) && !dev.includes(x))
        expect({ target: r.Target, missing, extra }).toEqual({ target: r.Target, missing: [], extra: [] })
        for (const d of dev) expect(mine.has(d), `${d} listed as dev-only but not read`).toBe(true)
      }
    })
  }
})
