import { applyPolicy } from '../../src/report/policy.js'
import { readVexFile } from '../../src/report/vex.js'
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { importRecords, matchInventory } from '../../src/match/index.js'
import { ANALYZERS } from '../../src/analyzers/index.js'
import type { Analyzer } from '../../src/analyzers/types.js'
import { asDigest, type ImageInfo, type Inventory, type Package } from '../../src/types.js'
import { tempStore } from '../feeds/helpers.js'
import { loadTrivyFixtureDb } from './trivy-db.js'

noteSharedMissing('trivy integration goldens')

const ROOT = sharedPath('e2e/trivy-integration')
interface Case { name: string; args?: Record<string, unknown>; golden: string; _test_file: string }

/** Why a case is out of scope, or undefined when it is in scope. Listed in docs/matching.md. */
export function exclusion(c: Case): string | undefined {
  const a = c.args ?? {}
  const input = String(a.input ?? '')
  if (c._test_file.includes('convert_test')) return 'converts an existing JSON report to another format (no matching)'
  if (!input.includes('fixtures/repo/') && !input.includes('fixtures/sbom/')) return 'image or VM input (downloaded at test time upstream, not shipped)'
  if (!existsSync(join(ROOT, c.golden))) return 'not a vulnerability case (misconfiguration, secret, helm or terraform golden not shipped)'
  if (a.format && a.format !== 'json') return 'SBOM output format case (tests SBOM generation, not matching)'
  if (a.vex === 'repo') return 'VEX repository (VEX Hub download) is not implemented; local OpenVEX files are'
  if (a.scanners === 'license') return 'license scanning'
  if (input.includes('centos-7')) return 'Red Hat data is keyed by CPE/content set in trivy-db; Vigil has no Red Hat feed yet'
  if (input.includes('kbom')) return 'Kubernetes KBOM'
  return undefined
}

/** Lockfile readers live beside the image registry (not in it); load them when they exist. */
async function analyzers(): Promise<readonly Analyzer[]> {
  try {
    const mod = (await import('../../src/analyzers/lang/lockfiles.js')) as { LOCKFILE_ANALYZERS?: readonly Analyzer[] }
    return [...ANALYZERS, ...(mod.LOCKFILE_ANALYZERS ?? [])]
  } catch {
    return ANALYZERS
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}

async function parseInput(c: Case, list: readonly Analyzer[]): Promise<Pick<Inventory, 'packages' | 'os'>> {
  const a = c.args ?? {}
  const input = join(ROOT, String(a.input))
  if (statSync(input).isFile()) {
    const { parseSbom } = await import('../../src/sbom/read.js')
    return parseSbom(readFileSync(input)).inventory
  }
  const skipFiles = ((a.skipFiles as string[] | undefined) ?? []).map((p) => join(ROOT, p))
  const skipDirs = ((a.skipDirs as string[] | undefined) ?? []).map((p) => join(ROOT, p))
  const packages: Package[] = []
  for (const file of walk(input)) {
    if (skipFiles.includes(file) || skipDirs.some((d) => file.startsWith(d + '/'))) continue
    const info = {
      path: relative(input, file), size: statSync(file).size, mode: 0o644,
      // A source tree gives neighbours (go.mod reads its go.sum), as Trivy's fs mode does.
      readRelative: (rel: string) => {
        const near = resolve(dirname(file), rel)
        return near.startsWith(input + '/') && existsSync(near) && statSync(near).isFile() ? readFileSync(near) : undefined
      },
    }
    for (const an of list) {
      if (an.kind !== 'lang' || !an.match(info)) continue
      try {
        const result = await an.parse(readFileSync(file), info)
        packages.push(...(result.packages ?? []))
      } catch {
        // a parser error shows up as missing findings below
      }
    }
  }
  return { packages }
}

function expected(golden: string): Set<string> {
  const doc = JSON.parse(readFileSync(join(ROOT, golden), 'utf8')) as { Results?: { Vulnerabilities?: { PkgName: string; InstalledVersion: string; VulnerabilityID: string }[] }[] }
  return new Set((doc.Results ?? []).flatMap((r) => (r.Vulnerabilities ?? []).map((v) => `${v.PkgName}@${v.InstalledVersion} ${v.VulnerabilityID}`)))
}

describe.skipIf(!HAS_SHARED)('e2e: trivy integration goldens', () => {
  const t = tempStore()
  beforeAll(() => {
    importRecords(t.store, loadTrivyFixtureDb(join(ROOT, 'testdata/fixtures/db')))
  })
  afterAll(() => t.done())

  it('matches every in-scope case whose parser exists', async () => {
    const cases = JSON.parse(readFileSync(join(ROOT, 'cases_from_integration_tests.json'), 'utf8')) as Case[]
    const list = await analyzers()
    const failures: string[] = []
    const waiting: string[] = []
    let inScope = 0
    const listed: string[] = []
    let findings = 0
    const passedNames: string[] = []
    const excluded = new Map<string, number>()
    for (const c of cases) {
      const why = exclusion(c)
      if (why) {
        excluded.set(why, (excluded.get(why) ?? 0) + 1)
        listed.push(`| ${c.name} | ${c.golden.replace('testdata/', '')} | ${why} |`)
        continue
      }
      inScope++
      const want = expected(c.golden)
      const inventory = await parseInput(c, list)
      if (inventory.packages.length === 0) {
        listed.push(`| ${c.name} | ${c.golden.replace('testdata/', '')} | in scope, waits on a parser for ${String(c.args?.input).split('/').pop()} |`)
        waiting.push(`${c.name} (${String(c.args?.input).split('/').pop()})`)
        continue
      }
      let matched = matchInventory(t.store, inventory)
      // A local OpenVEX file goes through the same policy step as `vigil scan --vex`.
      if (typeof c.args?.vex === 'string') {
        const policy = { severities: [], ignoreUnfixed: false, vex: [await readVexFile(join(ROOT, c.args.vex))] }
        // A source tree has no image: the statement names its packages (subcomponents) by purl.
        const tree: ImageInfo = { reference: String(c.args.input), digest: asDigest(`sha256:${'0'.repeat(64)}`), platform: '', layers: [] }
        matched = applyPolicy(matched, policy, tree).findings
      }
      const got = new Set(matched.map((f) => `${f.name}@${f.installed} ${f.id}`))
      const missing = [...want].filter((k) => !got.has(k))
      const extra = [...got].filter((k) => !want.has(k))
      findings += want.size
      if (!missing.length && !extra.length) passedNames.push(`${c.name} (${want.size})`)
      if (missing.length || extra.length) failures.push(`${c.name}: missing [${missing.join('; ')}] extra [${extra.join('; ')}]`)
    }
    const ran = inScope - waiting.length
    console.log(`[e2e trivy] ${ran - failures.length}/${ran} in-scope cases pass (${findings} expected findings: ${passedNames.join(', ')}); ${waiting.length} wait on parsers: ${waiting.join(', ') || '-'}`)
    console.log(`[e2e trivy] excluded: ${[...excluded].map(([w, n]) => `${n} × ${w}`).join('; ')}`)
    if (failures.length) console.log(failures.join('\n'))
    // VIGIL_E2E_LIST=file writes the per-case exclusion table that docs/matching.md carries.
    if (process.env.VIGIL_E2E_LIST) appendFileSync(process.env.VIGIL_E2E_LIST, `\n### trivy\n\n| case | golden | reason |\n| --- | --- | --- |\n${listed.join('\n')}\n`)
    expect(failures).toEqual([])
  })
})
