import { parseTarget } from '../image/reference.js'
import type { Finding, Severity } from '../match/types.js'
import { advisoryUrl, compareFindings, firstCvssOf, severityRank } from './severity.js'
import { TOOL } from './tool.js'
import type { ScanReport } from './types.js'

/**
 * Harbor's vulnerability report, `application/vnd.security.vulnerability.report; version=1.1`
 * (pluggable-scanner-spec v1.1/v1.2 `HarborVulnerabilityReport`; shapes and Harbor's own
 * strictness in reference/harbor-api.md). Harbor decodes into typed Go structs, so every number
 * is a number and every list a list. The top-level `severity` is omitted for an empty report:
 * Harbor's "None" is not in the spec's enum and Harbor recomputes the value from the items anyway.
 */
export const HARBOR_REPORT_MIME = 'application/vnd.security.vulnerability.report; version=1.1'

export type HarborSeverity = 'Unknown' | 'Negligible' | 'Low' | 'Medium' | 'High' | 'Critical'
const HARBOR_SEVERITY: Record<Severity, HarborSeverity> = {
  CRITICAL: 'Critical',
  HIGH: 'High',
  MEDIUM: 'Medium',
  LOW: 'Low',
  NEGLIGIBLE: 'Negligible',
  UNKNOWN: 'Unknown',
}

export interface HarborArtifact {
  repository?: string
  digest?: string
  tag?: string
  mime_type?: string
}

/** Trivy's status words, which Harbor stores and shows (an out-of-spec but read field). */
const STATUS: Record<Finding['state'], string> = { fixed: 'fixed', affected: 'affected', 'wont-fix': 'will_not_fix' }

function artifactOf(report: ScanReport): HarborArtifact {
  const { image } = report.inventory
  try {
    const t = parseTarget(image.reference)
    if (t.kind === 'registry') return { repository: t.repository, digest: image.digest, ...(t.tag ? { tag: t.tag } : {}) }
  } catch {
    // not a registry reference: the reference itself names the artifact
  }
  return { repository: image.reference, digest: image.digest }
}

function cvssAttributes(f: Finding): Record<string, Record<string, number | string>> {
  const out: Record<string, Record<string, number | string>> = {}
  for (const c of f.cvss) {
    const key = c.source ?? 'advisory'
    const slot = (out[key] ??= {})
    const v = c.version === '2.0' ? 'V2' : c.version === '4.0' ? 'V40' : 'V3'
    slot[`${v}Score`] = c.score
    slot[`${v}Vector`] = c.vector
  }
  return out
}

function item(f: Finding, report: ScanReport): Record<string, unknown> {
  const v3 = firstCvssOf(f.cvss, ['3.1', '3.0'])
  const v2 = firstCvssOf(f.cvss, ['2.0'])
  const links = [advisoryUrl(f.id), ...(f.references ?? []).filter((u) => /^https?:\/\/\S+$/.test(u))]
  const { layers, diffIds } = report.inventory.image
  const layerIndex = f.layer ? layers.indexOf(f.layer as (typeof layers)[number]) : -1
  return {
    id: f.id,
    package: f.name,
    version: f.installed,
    fix_version: f.fixedVersions.join(', '),
    status: STATUS[f.state],
    severity: HARBOR_SEVERITY[f.severity],
    description: f.description ?? f.title ?? '',
    links: [...new Set(links)],
    ...(v3 || v2
      ? { preferred_cvss: { ...(v3 ? { score_v3: v3.score, vector_v3: v3.vector } : {}), ...(v2 ? { score_v2: v2.score, vector_v2: v2.vector } : {}) } }
      : {}),
    cwe_ids: [],
    vendor_attributes: {
      CVSS: cvssAttributes(f),
      risk: f.risk,
      ...(f.epss !== undefined ? { epss: f.epss } : {}),
      kev: f.kev ?? false,
      severity_source: f.severitySource,
      aliases: f.aliases,
      purl: f.purl,
      ...(f.path ? { path: f.path } : {}),
    },
    ...(f.layer ? { layer: { digest: f.layer, ...(layerIndex >= 0 && diffIds?.[layerIndex] ? { diff_id: diffIds[layerIndex] } : {}) } } : {}),
  }
}

export function toHarborReport(report: ScanReport, artifact: HarborArtifact = artifactOf(report)): Record<string, unknown> {
  const findings = [...report.findings].sort(compareFindings)
  const worst = findings.reduce<Severity | undefined>((w, f) => (!w || severityRank(f.severity) > severityRank(w) ? f.severity : w), undefined)
  return {
    generated_at: report.generatedAt,
    artifact,
    scanner: { name: TOOL.name, vendor: TOOL.vendor, version: TOOL.version },
    ...(worst ? { severity: HARBOR_SEVERITY[worst] } : {}),
    vulnerabilities: findings.map((f) => item(f, report)),
    // Not in Harbor's schema (Harbor ignores unknown fields): for API readers of the raw report.
    ...(report.inventory.warnings?.length ? { complete: false, warnings: report.inventory.warnings } : {}),
  }
}
