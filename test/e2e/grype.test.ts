import { appendFileSync, readFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { importRecords, matchPackage } from '../../src/match/index.js'
import { osvEcosystem } from '../../src/sbom/finalize.js'
import type { Package } from '../../src/types.js'
import { tempStore } from '../feeds/helpers.js'
import { loadVunnelFixture } from './vunnel-db.js'

noteSharedMissing('grype matcher cases')

interface GPkg { name: string; version: string; type: string; WithDistro?: string[]; WithUpstream?: string[]; WithCPE?: string[]; WithArchitecture?: string[]; WithGoBinarySymbols?: string[] }
interface GCase { test_file: string; test: string; fixture_dbs: string[]; packages: GPkg[]; expect_match_ids: string[]; expect_empty: boolean }

const DISTROS: Record<string, string> = { 'dbtest.Alpine318': 'Alpine:v3.18', 'dbtest.WolfiRolling': 'Wolfi' }
const LANG: Record<string, string> = { 'syftPkg.GemPkg': 'RubyGems', 'syftPkg.NpmPkg': 'npm', 'syftPkg.PythonPkg': 'PyPI', 'syftPkg.GoModulePkg': 'Go', 'syftPkg.JavaPkg': 'Maven' }

/** Why a case is out of scope (docs/matching.md lists these), or undefined. */
export function exclusion(c: GCase): string | undefined {
  const dbs = c.fixture_dbs.join(',')
  if (c.test_file.includes('/rpm/') && !c.test_file.endsWith('/sles_test.go')) return 'RPM-family matcher (RHEL/EUS/RHSA, Alma, Oracle, Hummingbird): needs Red Hat CSAF per release, module streams, arch-qualified records (docs/matching.md)'
  if (c.packages.some((p) => p.WithCPE?.length) || /CPE|JVMPackage/.test(c.test)) return 'NVD CPE matching: Vigil never matches OS or binary packages against upstream ranges (DESIGN.md)'
  if (/rootio|chainguard|bitnami|vex/i.test(dbs) || /RootIO|Chainguard/.test(c.test)) return 'vendor-specific feed (Root.io, Chainguard libraries, Bitnami) or VEX suppression'
  if (/GoSymbols/.test(c.test)) return 'Go symbol-level reachability'
  if (/ESM/.test(c.test)) return 'Ubuntu ESM (Pro) namespaces'
  if (c.packages.length === 0) return 'package built by helper code in the Go test; the regex extraction did not capture it'
  if (c.expect_empty && c.expect_match_ids.length > 0) return 'extraction is contradictory (expects both matches and none)'
  if (c.packages.some((p) => p.version === '(devel)')) return 'main-module version inference from build info'
  return undefined
}

/** `dbtest.SLES156` / `distro.New(distro.SLES, "15.7", "")` → the ecosystem an SLES image of that release gets. */
function slesEcosystem(distro: string): string | undefined {
  const release = /^dbtest\.SLES(\d\d)(\d+)$/.exec(distro)?.slice(1).join('.') ?? /^distro\.New\(distro\.SLES, "([\d.]+)"/.exec(distro)?.[1]
  return release ? osvEcosystem('sles', release) : undefined
}

function toPackage(p: GPkg): Package | undefined {
  const distro = p.WithDistro?.[0]
  const upstream = p.WithUpstream?.[0] ? /"([^"]*)"/.exec(p.WithUpstream[0])?.[1] : undefined
  const ecosystem = distro ? (DISTROS[distro] ?? slesEcosystem(distro)) : LANG[p.type]
  if (!ecosystem) return undefined
  return {
    ecosystem, name: p.name, version: p.version, purl: '', path: 'grype-case', kind: distro ? 'os' : 'lang',
    ...(upstream ? { source: { name: upstream } } : {}),
  }
}

describe.skipIf(!HAS_SHARED)('e2e: grype matcher cases', () => {
  it('matches every in-scope case', async () => {
    const cases = JSON.parse(readFileSync(sharedPath('e2e/grype/matcher_cases.json'), 'utf8')) as GCase[]
    const failures: string[] = []
    const excluded = new Map<string, number>()
    let ran = 0
    const listed: string[] = []
    for (const c of cases) {
      const why = exclusion(c)
      const pkgs = why ? [] : c.packages.map(toPackage)
      const reason = why ?? (pkgs.some((p) => !p) ? 'package type or distro without a Vigil ecosystem mapping' : undefined)
      if (reason) {
        excluded.set(reason, (excluded.get(reason) ?? 0) + 1)
        listed.push(`| ${c.test} | ${c.test_file.replace('grype/matcher/', '')} | ${reason} |`)
        continue
      }
      ran++
      const base = join(sharedPath('e2e/grype'), c.test_file.replace(/[^/]+$/, ''), 'testdata')
      const t = tempStore()
      try {
        for (const db of new Set(c.fixture_dbs)) if (existsSync(join(base, db))) importRecords(t.store, loadVunnelFixture(join(base, db)))
        const got = [...new Set(pkgs.flatMap((p) => matchPackage(t.store, p!).map((f) => f.id)))].sort()
        const want = [...new Set(c.expect_empty ? [] : c.expect_match_ids)].sort()
        if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${c.test}: want [${want.join(',')}] got [${got.join(',')}]`)
      } finally {
        await t.done()
      }
    }
    console.log(`[e2e grype] ${ran - failures.length}/${ran} in-scope cases pass; excluded ${cases.length - ran}: ${[...excluded].map(([w, n]) => `${n} × ${w}`).join('; ')}`)
    if (failures.length) console.log(failures.join('\n'))
    if (process.env.VIGIL_E2E_LIST) appendFileSync(process.env.VIGIL_E2E_LIST, `\n### grype\n\n| test | file | reason |\n| --- | --- | --- |\n${listed.join('\n')}\n`)
    expect(failures).toEqual([])
  })
})
