import { randomUUID } from 'node:crypto'
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library'
import { packageKey, type Finding, type Severity } from '../match/types.js'
import { severityFromCvss } from '../match/severity.js'
import { advisorySourceName, advisoryUrl } from '../report/severity.js'
import { TOOL } from '../report/tool.js'
import type { SuppressedFinding } from '../report/types.js'
import type { Inventory, Package } from '../types.js'
import { imagePurl } from './image-purl.js'

/**
 * CycloneDX 1.6 JSON through @cyclonedx/cyclonedx-library: its models know the spec's field
 * names, enums and per-version rules, and its normaliser writes exactly what the 1.6 schema
 * allows (checked against the schema it ships, in test/sbom). The result is a plain object.
 */
export interface CycloneDxOptions {
  /** Findings the policy hid because of an OpenVEX statement: written with an `analysis`. */
  suppressed?: readonly SuppressedFinding[]
  timestamp?: Date
  serialNumber?: string
}

export const CYCLONEDX_MEDIA_TYPE = 'application/vnd.cyclonedx+json'
const Vuln = Models.Vulnerability
const VulnEnums = Enums.Vulnerability

export function toCycloneDx(inventory: Inventory, findings?: readonly Finding[], options: CycloneDxOptions = {}): Record<string, unknown> {
  const bom = new Models.Bom({ serialNumber: options.serialNumber ?? `urn:uuid:${randomUUID()}` })
  bom.metadata.timestamp = options.timestamp ?? new Date()
  bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, TOOL.name, { version: TOOL.version }))

  const image = imageComponent(inventory)
  bom.metadata.component = image

  let os: Models.Component | undefined
  if (inventory.os) {
    os = new Models.Component(Enums.ComponentType.OperatingSystem, inventory.os.family, {
      version: inventory.os.version,
      bomRef: `vigil:os:${inventory.os.family}@${inventory.os.version}`,
      description: inventory.os.prettyName,
    })
    os.properties.add(new Models.Property('vigil:ecosystem', inventory.os.ecosystem))
    bom.components.add(os)
    image.dependencies.add(os.bomRef)
  }

  const refByKey = new Map<string, Models.BomRef>()
  const usedRefs = new Set<string>()
  for (const pkg of inventory.packages) {
    const component = packageComponent(pkg, uniqueRef(pkg, usedRefs))
    bom.components.add(component)
    refByKey.set(packageKey(pkg), component.bomRef)
    ;(pkg.kind === 'os' && os ? os : image).dependencies.add(component.bomRef)
  }

  if (findings) {
    for (const f of findings) addVulnerability(bom, f, refByKey)
    for (const s of options.suppressed ?? []) if (s.suppression.kind === 'vex') addVulnerability(bom, s.finding, refByKey, s)
  }

  const factory = new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6)
  return factory.makeForBom().normalize(bom, { sortLists: false }) as unknown as Record<string, unknown>
}

function imageComponent(inventory: Inventory): Models.Component {
  const { image } = inventory
  const component = new Models.Component(Enums.ComponentType.Container, image.reference, {
    version: image.digest,
    bomRef: `vigil:image:${image.digest}`,
    purl: imagePurl(image),
  })
  component.hashes.set(Enums.HashAlgorithm['SHA-256'], image.digest.slice('sha256:'.length))
  const props: [string, string | undefined][] = [
    ['vigil:image:digest', image.digest],
    ['vigil:image:config-digest', image.configDigest],
    ['vigil:image:platform', image.platform],
    ['vigil:analyzer-set', inventory.analyzerSet],
    ['vigil:inventory:created', inventory.createdAt],
    ...image.layers.map((l): [string, string] => ['vigil:image:layer', l]),
    ...(image.diffIds ?? []).map((d): [string, string] => ['vigil:image:diff-id', d]),
    ...(image.repoTags ?? []).map((t): [string, string] => ['vigil:image:repo-tag', t]),
  ]
  for (const [name, value] of props) if (value) component.properties.add(new Models.Property(name, value))
  return component
}

/** bom-refs must be unique; the same purl found at two paths gets the path appended. */
function uniqueRef(pkg: Package, used: Set<string>): string {
  let ref = pkg.purl
  if (used.has(ref)) ref = `${pkg.purl}#${pkg.path}`
  for (let n = 2; used.has(ref); n++) ref = `${pkg.purl}#${pkg.path}#${n}`
  used.add(ref)
  return ref
}

function packageComponent(pkg: Package, bomRef: string): Models.Component {
  const component = new Models.Component(Enums.ComponentType.Library, pkg.name, { version: pkg.version, bomRef, purl: pkg.purl })
  for (const id of pkg.licenses ?? []) component.licenses.add(new Models.NamedLicense(id))
  const props: [string, string | undefined][] = [
    ['vigil:ecosystem', pkg.ecosystem],
    ['vigil:kind', pkg.kind],
    ['vigil:layer', pkg.layer],
    ['vigil:path', pkg.path],
    ['vigil:source:name', pkg.source?.name],
    ['vigil:source:version', pkg.source?.version],
    ['vigil:arch', pkg.arch],
    ['vigil:epoch', pkg.epoch === undefined ? undefined : String(pkg.epoch)],
    ['vigil:modularity-label', pkg.modularityLabel],
    ['vigil:os-owned', pkg.osOwned ? 'true' : undefined],
  ]
  for (const [name, value] of props) if (value) component.properties.add(new Models.Property(name, value))
  return component
}

const CDX_SEVERITY: Record<Severity, Enums.Vulnerability.Severity> = {
  CRITICAL: VulnEnums.Severity.Critical,
  HIGH: VulnEnums.Severity.High,
  MEDIUM: VulnEnums.Severity.Medium,
  LOW: VulnEnums.Severity.Low,
  NEGLIGIBLE: VulnEnums.Severity.Info,
  UNKNOWN: VulnEnums.Severity.Unknown,
}

const SEVERITY_BASIS: Record<Finding['severitySource'], string | undefined> = {
  vendor: 'the advisory feed\'s own severity',
  cvss: 'computed from the preferred CVSS vector (v4 > v3.1 > v3.0 > v2)',
  'cvss-score': 'the advisory feed\'s CVSS score (its vector is malformed)',
  none: undefined,
}

const CDX_METHOD: Record<string, Enums.Vulnerability.RatingMethod> = {
  '2.0': VulnEnums.RatingMethod.CVSSv2,
  '3.0': VulnEnums.RatingMethod.CVSSv3,
  '3.1': VulnEnums.RatingMethod.CVSSv31,
  '4.0': VulnEnums.RatingMethod.CVSSv4,
}

/** OpenVEX justifications → the nearest CycloneDX 1.6 `analysis.justification`. */
const VEX_JUSTIFICATION: Record<string, Enums.Vulnerability.AnalysisJustification> = {
  component_not_present: VulnEnums.AnalysisJustification.CodeNotPresent,
  vulnerable_code_not_present: VulnEnums.AnalysisJustification.CodeNotPresent,
  vulnerable_code_not_in_execute_path: VulnEnums.AnalysisJustification.CodeNotReachable,
  vulnerable_code_cannot_be_controlled_by_adversary: VulnEnums.AnalysisJustification.RequiresEnvironment,
  inline_mitigations_already_exist: VulnEnums.AnalysisJustification.ProtectedByMitigatingControl,
}

function addVulnerability(bom: Models.Bom, f: Finding, refByKey: Map<string, Models.BomRef>, suppressed?: SuppressedFinding): void {
  const source = new Vuln.Source({ name: advisorySourceName(f.id), url: advisoryUrl(f.id) })
  const v = new Vuln.Vulnerability({ id: f.id, source, description: f.title, detail: f.description })
  for (const score of f.cvss) {
    v.ratings.add(new Vuln.Rating({
      method: CDX_METHOD[score.version],
      score: score.score,
      vector: score.vector,
      severity: CDX_SEVERITY[severityFromCvss(score)],
      source: score.source ? new Vuln.Source({ name: score.source }) : undefined,
    }))
  }
  // Vigil's own verdict (vendor rating or CVSS, see docs/risk.md) as one more rating.
  v.ratings.add(new Vuln.Rating({ method: VulnEnums.RatingMethod.Other, severity: CDX_SEVERITY[f.severity], source: new Vuln.Source({ name: TOOL.name }), justification: SEVERITY_BASIS[f.severitySource] }))
  for (const alias of f.aliases) if (alias !== f.id) v.references.add(new Vuln.Reference(alias, new Vuln.Source({ name: advisorySourceName(alias), url: advisoryUrl(alias) })))
  for (const url of f.references ?? []) if (/^https?:\/\//.test(url)) v.advisories.add(new Vuln.Advisory(url))
  if (f.fixedVersions.length > 0) v.recommendation = `Upgrade ${f.name} to ${f.fixedVersions.join(' or ')}`

  const ref = refByKey.get(f.pkgKey)
  if (ref) {
    const affect = new Vuln.Affect(ref)
    affect.versions.add(new Vuln.AffectedSingleVersion(f.installed, { status: suppressed ? VulnEnums.AffectStatus.Unaffected : VulnEnums.AffectStatus.Affected }))
    v.affects.add(affect)
  }

  const props: [string, string | undefined][] = [
    ['vigil:risk', String(f.risk)],
    ['vigil:state', f.state],
    ['vigil:epss', f.epss === undefined ? undefined : String(f.epss)],
    ['vigil:kev', f.kev === undefined ? undefined : String(f.kev)],
    ['vigil:fixed-versions', f.fixedVersions.join(',') || undefined],
  ]
  for (const [name, value] of props) if (value) v.properties.add(new Models.Property(name, value))

  if (suppressed?.suppression.kind === 'vex') {
    const s = suppressed.suppression
    v.analysis = new Vuln.Analysis({
      state: s.status === 'fixed' ? VulnEnums.AnalysisState.Resolved : VulnEnums.AnalysisState.NotAffected,
      justification: s.justification ? VEX_JUSTIFICATION[s.justification] : undefined,
      detail: [s.statement, `OpenVEX ${s.status} (${s.source})`].filter(Boolean).join(' — '),
    })
  }
  bom.vulnerabilities.add(v)
}
