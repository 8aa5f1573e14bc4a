import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { osvToItems } from '../../src/feeds/osv.js'
import { osvEcosystem } from '../../src/sbom/finalize.js'
import type { AdvisoryRecord } from '../../src/match/model.js'
import { cvssBaseScore, parseSeverityWord } from '../../src/match/severity.js'
import { constraintToRanges } from './trivy-db.js'

/**
 * Test adapter: vunnel "results" records (grype's matcher fixture DBs) → Vigil advisory records.
 * OS schema: `Vulnerability.FixedIn[]` per namespace (`alpine:3.18`, `wolfi:rolling`, …), where
 * Version `None` is unfixed and `0` is "not affected"; GitHub schema: `Advisory.FixedIn[].range`.
 */
const GH_ECO: Record<string, string> = { gem: 'RubyGems', npm: 'npm', python: 'PyPI', pip: 'PyPI', go: 'Go', golang: 'Go', java: 'Maven', maven: 'Maven', composer: 'Packagist', rust: 'crates.io', nuget: 'NuGet' }

export function namespaceEcosystem(ns: string): string | undefined {
  const [distro, release = ''] = ns.split(':')
  switch (distro) {
    case 'alpine':
      return `Alpine:v${release}`
    case 'wolfi':
      return 'Wolfi'
    case 'debian':
      return `Debian:${release}`
    case 'ubuntu':
      return `Ubuntu:${release}`
    case 'sles':
      return osvEcosystem('sles', release)
    default:
      return undefined
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? walk(p) : n.endsWith('.json') ? [p] : []
  })
}

type Json = Record<string, any>

export function loadVunnelFixture(dir: string): AdvisoryRecord[] {
  const out: AdvisoryRecord[] = []
  for (const file of walk(dir).filter((f) => f.includes('/results/'))) {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as Json
    const item = doc.item as Json | undefined
    if (!item) continue
    // GitHub records carry an empty `Vulnerability` beside their `Advisory`.
    if (item.Advisory) out.push(...fromGithub(item.Advisory as Json))
    else if (item.Vulnerability) out.push(...fromOs(item.Vulnerability as Json))
    else if (typeof item.id === 'string') for (const it of osvToItems(item, file)) if (it.kind === 'record') out.push(it.record)
  }
  return out
}

function fromOs(v: Json): AdvisoryRecord[] {
  const out: AdvisoryRecord[] = []
  for (const f of (v.FixedIn as Json[] | undefined) ?? []) {
    const ecosystem = namespaceEcosystem(String(f.NamespaceName ?? v.NamespaceName))
    if (!ecosystem || f.Version === '0') continue
    const fixed = f.Version && f.Version !== 'None' ? String(f.Version) : undefined
    const record: AdvisoryRecord = {
      key: `vunnel:${f.NamespaceName}/${f.Name}/${v.Name}`, id: String(v.Name), aliases: [], cvss: [], source: 'vunnel',
      affected: [{ ecosystem, name: String(f.Name), versions: [], ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, ...(fixed ? [{ fixed }] : [])] }], ...(fixed ? {} : { state: 'affected' as const }) }],
    }
    const sev = parseSeverityWord(v.Severity)
    if (sev) record.vendorSeverity = sev
    out.push(record)
  }
  return out
}

function fromGithub(a: Json): AdvisoryRecord[] {
  if (a.withdrawn) return []
  const byPkg = new Map<string, { ecosystem: string; name: string; ranges: string[] }>()
  for (const f of (a.FixedIn as Json[] | undefined) ?? []) {
    const ecosystem = GH_ECO[String(f.ecosystem)]
    if (!ecosystem) continue
    const k = `${ecosystem}\0${f.name}`
    const e = byPkg.get(k) ?? { ecosystem, name: String(f.name), ranges: [] }
    e.ranges.push(String(f.range))
    byPkg.set(k, e)
  }
  const id = String(a.ghsaId)
  const record: AdvisoryRecord = {
    key: `vunnel:${a.namespace}/${id}`, id, aliases: ((a.CVE as string[] | undefined) ?? []), cvss: [], source: 'vunnel', affected: [],
  }
  for (const e of byPkg.values()) record.affected.push({ ecosystem: e.ecosystem, name: e.name, ...constraintToRanges(e.ranges) })
  for (const s of (a.cvss_severities as Json[] | undefined) ?? []) {
    const c = typeof s.vector === 'string' ? cvssBaseScore(s.vector) : undefined
    if (c) record.cvss.push(c)
  }
  const sev = parseSeverityWord(a.Severity)
  if (sev) record.vendorSeverity = sev
  if (typeof a.Summary === 'string') record.summary = a.Summary
  return [record]
}
