import { VigilError } from '../errors.js'
import { SEVERITIES, type Finding, type Severity } from '../match/types.js'
import { parsePurl, purlWithoutQualifiers } from '../sbom/purl.js'
import type { ImageInfo } from '../types.js'
import type { IgnoreList, IgnoreRule } from './ignore-file.js'
import { parseSeverity, severityRank } from './severity.js'
import type { SuppressedFinding } from './types.js'
import { vexSuppression, type VexDocument } from './vex.js'

/**
 * What `vigil scan` keeps and when it fails. Order: VEX and the ignore file first (their hits are
 * kept as `suppressed`, so CycloneDX can carry the VEX analysis), then the severity filter and
 * --ignore-unfixed (their hits are dropped), then --fail-on over what is left.
 */
export interface Policy {
  /** Keep only these severities; empty = all. */
  severities: Severity[]
  ignoreUnfixed: boolean
  ignore?: IgnoreList
  vex: VexDocument[]
  failOn?: FailOn
}

export type FailOn = { kind: 'severity'; severity: Severity } | { kind: 'risk'; min: number }

export function parseSeverityList(value: string): Severity[] {
  const out: Severity[] = []
  for (const part of value.split(',')) {
    if (part.trim() === '') continue
    const s = parseSeverity(part)
    if (!s) throw new VigilError('ERR_USAGE', `--severity: "${part.trim()}" is not one of ${SEVERITIES.join(', ')}`)
    out.push(s)
  }
  return out
}

/** `HIGH` (that severity or worse) or `risk>=N` (0–100). */
export function parseFailOn(value: string): FailOn {
  const risk = /^risk\s*>=\s*(\d+(?:\.\d+)?)$/i.exec(value.trim())
  if (risk?.[1]) {
    const min = Number(risk[1])
    if (min > 100) throw new VigilError('ERR_USAGE', `--fail-on ${value}: risk is 0–100`)
    return { kind: 'risk', min }
  }
  const severity = parseSeverity(value)
  if (!severity) throw new VigilError('ERR_USAGE', `--fail-on "${value}": give a severity (${SEVERITIES.join(', ')}) or risk>=N`)
  return { kind: 'severity', severity }
}

function ignoreHit(rules: readonly IgnoreRule[], f: Finding): IgnoreRule | undefined {
  return rules.find((r) => {
    if (r.id !== f.id && !f.aliases.includes(r.id)) return false
    if (!r.purls?.length) return true
    return r.purls.some((p) => purlMatches(p, f.purl))
  })
}

function purlMatches(rule: string, pkg: string): boolean {
  try {
    const r = parsePurl(rule)
    if (r.version) return purlWithoutQualifiers(rule) === purlWithoutQualifiers(pkg)
    const p = parsePurl(pkg)
    return r.type === p.type && (r.namespace ?? '') === (p.namespace ?? '') && r.name === p.name
  } catch {
    return false
  }
}

export interface PolicyResult {
  findings: Finding[]
  suppressed: SuppressedFinding[]
  /** How many the severity filter and --ignore-unfixed dropped. */
  filtered: number
}

export function applyPolicy(findings: readonly Finding[], policy: Policy, image: ImageInfo): PolicyResult {
  const out: PolicyResult = { findings: [], suppressed: [], filtered: 0 }
  const keep = policy.severities.length ? new Set(policy.severities) : undefined
  for (const f of findings) {
    const vex = policy.vex.length ? vexSuppression(policy.vex, f, image) : undefined
    if (vex) {
      out.suppressed.push({ finding: f, suppression: vex })
      continue
    }
    const rule = policy.ignore ? ignoreHit(policy.ignore.rules, f) : undefined
    if (rule) {
      out.suppressed.push({ finding: f, suppression: { kind: 'ignore', source: rule.origin, ...(rule.reason ? { reason: rule.reason } : {}), ...(rule.expires ? { expires: rule.expires } : {}) } })
      continue
    }
    if ((keep && !keep.has(f.severity)) || (policy.ignoreUnfixed && f.state !== 'fixed')) {
      out.filtered++
      continue
    }
    out.findings.push(f)
  }
  return out
}

/** The findings that trip --fail-on (empty = the policy passes). */
export function failingFindings(findings: readonly Finding[], failOn: FailOn | undefined): Finding[] {
  if (!failOn) return []
  if (failOn.kind === 'risk') return findings.filter((f) => f.risk >= failOn.min)
  const min = severityRank(failOn.severity)
  return findings.filter((f) => severityRank(f.severity) >= min)
}
