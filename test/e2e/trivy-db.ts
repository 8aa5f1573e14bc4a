import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import type { AdvisoryRecord, AffectedRange, RangeEvent } from '../../src/match/model.js'
import { cvssBaseScore } from '../../src/match/severity.js'
import type { CvssScore, Severity } from '../../src/match/types.js'

/**
 * Test adapter: trivy-db fixture YAML (bolt buckets as YAML) → Vigil advisory records.
 * `<distro> <release>` buckets hold FixedVersion / Status per (package, vuln); `<eco>::<source>`
 * buckets hold VulnerableVersions / PatchedVersions constraint strings; `vulnerability.yaml`
 * holds titles, severities and CVSS.
 */
const LANG: Record<string, string> = {
  go: 'Go', pip: 'PyPI', npm: 'npm', rubygems: 'RubyGems', cargo: 'crates.io', composer: 'Packagist', nuget: 'NuGet', maven: 'Maven',
  conan: 'ConanCenter', pub: 'Pub', cocoapods: 'CocoaPods', swift: 'SwiftURL', erlang: 'Hex',
}

export function trivyBucketEcosystem(bucket: string): string | undefined {
  const lang = /^(\w+)::/.exec(bucket)?.[1]
  if (lang) return LANG[lang]
  const m = /^(alpine|debian|ubuntu) (\d[\d.]*)$/.exec(bucket)
  if (!m) return undefined
  if (m[1] === 'alpine') return `Alpine:v${m[2]}`
  return m[1] === 'debian' ? `Debian:${m[2]}` : `Ubuntu:${m[2]}`
}

const SEV: Severity[] = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL']

interface Pair { key?: string; bucket?: string; value?: Record<string, unknown>; pairs?: Pair[] }
interface VulnDetail { Title?: string; Severity?: string; VendorSeverity?: Record<string, number>; CVSS?: Record<string, Record<string, unknown>> }

/** `>= 1.0, < 2.0 || = 3.1`, `< v2.8.0`, Maven `[2.9.0,2.9.10.7)`, Ruby `~> 1.2` → OSV events. */
export function constraintToRanges(constraints: string[]): { ranges: AffectedRange[]; versions: string[] } {
  const ranges: AffectedRange[] = []
  const versions: string[] = []
  for (const c of constraints) {
    for (const alt of c.split('||')) {
      const s = alt.trim()
      const maven = /^([[(])\s*([^,]*)\s*,\s*([^\])]*)\s*([\])])$/.exec(s)
      if (maven) {
        const events: RangeEvent[] = [{ introduced: maven[2] || '0' }]
        if (maven[3]) events.push(maven[4] === ')' ? { fixed: maven[3] } : { last_affected: maven[3] })
        ranges.push({ type: 'ECOSYSTEM', events })
        continue
      }
      let lower: string | undefined
      let upper: RangeEvent | undefined
      for (const m of s.matchAll(/(>=|<=|>|<|==|=|~>)?\s*([0-9v][^\s,]*)/g)) {
        const [, op = '=', v = ''] = m
        if (op === '>=' || op === '>') lower = v
        else if (op === '<') upper = { fixed: v }
        else if (op === '<=') upper = { last_affected: v }
        else if (op === '~>') {
          lower = v
          const parts = v.split('.')
          parts.pop()
          const last = parts.pop()
          if (last !== undefined) upper = { fixed: [...parts, String(Number(last) + 1)].join('.') }
        } else versions.push(v)
      }
      if (lower === undefined && upper === undefined) continue
      ranges.push({ type: 'ECOSYSTEM', events: [{ introduced: lower ?? '0' }, ...(upper ? [upper] : [])] })
    }
  }
  return { ranges, versions }
}

export function loadTrivyFixtureDb(dir: string): AdvisoryRecord[] {
  const details = new Map<string, VulnDetail>()
  const buckets: Pair[] = []
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort()) {
    const doc = parse(readFileSync(join(dir, f), 'utf8')) as Pair[] | null
    for (const b of doc ?? []) {
      if (b.bucket === 'vulnerability') for (const p of b.pairs ?? []) details.set(p.key!, (p.value ?? {}) as VulnDetail)
      else buckets.push(b)
    }
  }
  const records: AdvisoryRecord[] = []
  for (const b of buckets) {
    const ecosystem = b.bucket ? trivyBucketEcosystem(b.bucket) : undefined
    if (!ecosystem) continue
    const ghsa = b.bucket!.includes('GitHub Security Advisory')
    for (const pkg of b.pairs ?? []) {
      for (const v of pkg.pairs ?? []) {
        const id = v.key!
        const value = v.value ?? {}
        const detail = details.get(id) ?? {}
        let ranges: AffectedRange[] = []
        let versions: string[] = []
        let state: 'affected' | 'wont-fix' | undefined
        if (Array.isArray(value.VulnerableVersions) && value.VulnerableVersions.length) {
          ;({ ranges, versions } = constraintToRanges(value.VulnerableVersions as string[]))
        } else if (Array.isArray(value.PatchedVersions) && value.PatchedVersions.length) {
          ranges = (value.PatchedVersions as string[]).map((p) => ({ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: p.replace(/^[<>=\s]+/, '') }] }))
        } else if (typeof value.FixedVersion === 'string' && value.FixedVersion) {
          ranges = [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: value.FixedVersion }] }]
        } else {
          ranges = [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }]
          state = value.Status === 5 ? 'wont-fix' : 'affected'
        }
        const cvss: CvssScore[] = []
        for (const src of Object.values(detail.CVSS ?? {})) for (const k of ['V40Vector', 'V3Vector', 'V2Vector']) {
          const s = typeof src[k] === 'string' ? cvssBaseScore(src[k] as string) : undefined
          if (s) cvss.push(s)
        }
        const vendorNum = ghsa ? detail.VendorSeverity?.ghsa : undefined
        const vendor = vendorNum !== undefined ? SEV[vendorNum] : (detail.Severity as Severity | undefined)
        const record: AdvisoryRecord = {
          key: `trivy:${b.bucket}/${pkg.bucket}/${id}`, id, aliases: [], cvss,
          affected: [{ ecosystem, name: pkg.bucket!, ranges, versions, ...(state ? { state } : {}) }], source: 'trivy-fixture',
        }
        if (vendor) record.vendorSeverity = vendor
        if (detail.Title) record.summary = detail.Title
        records.push(record)
      }
    }
  }
  return records
}
