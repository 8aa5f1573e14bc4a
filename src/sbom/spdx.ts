import { createHash, randomUUID } from 'node:crypto'
import { TOOL } from '../report/tool.js'
import type { Inventory, Package } from '../types.js'
import { imagePurl } from './image-purl.js'

/**
 * SPDX 2.3 JSON, written by hand: the JS SPDX tooling on npm targets SPDX 3 or tag-value, and
 * the 2.3 JSON shape is small (checked against the official schema in test/sbom).
 *
 * SPDX 2.3 has no free-form properties, so what CycloneDX carries as `vigil:*` properties
 * (layer, path, ecosystem, kind, arch, os-owned) goes into one package annotation whose comment
 * holds `vigil:<key>=<value>` lines; read.ts reads them back. See docs/output-formats.md.
 */
export const SPDX_MEDIA_TYPE = 'application/spdx+json'
export const VIGIL_ANNOTATION_PREFIX = 'vigil:'

export interface SpdxOptions {
  created?: Date
  namespace?: string
}

interface SpdxPackage {
  SPDXID: string
  name: string
  versionInfo?: string
  downloadLocation: 'NOASSERTION'
  filesAnalyzed: false
  supplier?: string
  licenseConcluded: 'NOASSERTION'
  licenseDeclared: 'NOASSERTION'
  licenseComments?: string
  copyrightText: 'NOASSERTION'
  sourceInfo?: string
  primaryPackagePurpose: 'CONTAINER' | 'OPERATING_SYSTEM' | 'LIBRARY'
  checksums?: { algorithm: 'SHA256'; checksumValue: string }[]
  externalRefs?: { referenceCategory: 'PACKAGE-MANAGER'; referenceType: 'purl'; referenceLocator: string }[]
  annotations?: { annotationDate: string; annotationType: 'OTHER'; annotator: string; comment: string }[]
}

/** SPDX ids allow letters, digits, `.` and `-`; a hash keeps them short, unique and stable. */
function spdxId(kind: string, ...parts: (string | undefined)[]): string {
  return `SPDXRef-${kind}-${createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16)}`
}

/** SPDX wants `YYYY-MM-DDThh:mm:ssZ` (no fractional seconds). */
function spdxDate(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function toSpdx(inventory: Inventory, options: SpdxOptions = {}): Record<string, unknown> {
  const created = spdxDate(options.created ?? new Date())
  const annotator = `Tool: ${TOOL.name}-${TOOL.version}`
  const { image } = inventory
  const annotate = (facts: [string, string | undefined][]) => {
    const lines = facts.filter(([, v]) => v).map(([k, v]) => `${VIGIL_ANNOTATION_PREFIX}${k}=${v}`)
    return lines.length ? [{ annotationDate: created, annotationType: 'OTHER' as const, annotator, comment: lines.join('\n') }] : undefined
  }

  const root: SpdxPackage = {
    SPDXID: spdxId('Image', image.digest),
    name: image.reference,
    versionInfo: image.digest,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    primaryPackagePurpose: 'CONTAINER',
    checksums: [{ algorithm: 'SHA256', checksumValue: image.digest.slice('sha256:'.length) }],
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: imagePurl(image) }],
    annotations: annotate([
      ['image:digest', image.digest],
      ['image:config-digest', image.configDigest],
      ['image:platform', image.platform],
      ['analyzer-set', inventory.analyzerSet],
      ['inventory:created', inventory.createdAt],
      ...image.layers.map((l): [string, string] => ['image:layer', l]),
      ...(image.diffIds ?? []).map((d): [string, string] => ['image:diff-id', d]),
      ...(image.repoTags ?? []).map((t): [string, string] => ['image:repo-tag', t]),
    ]),
  }
  const packages: SpdxPackage[] = [root]
  const relationships: { spdxElementId: string; relationshipType: 'DESCRIBES' | 'CONTAINS'; relatedSpdxElement: string }[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: root.SPDXID },
  ]

  let osId: string | undefined
  if (inventory.os) {
    const os = inventory.os
    osId = spdxId('OperatingSystem', os.family, os.version)
    packages.push({
      SPDXID: osId,
      name: os.family,
      versionInfo: os.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: 'OPERATING_SYSTEM',
      annotations: annotate([['ecosystem', os.ecosystem], ['pretty-name', os.prettyName]]),
    })
    relationships.push({ spdxElementId: root.SPDXID, relationshipType: 'CONTAINS', relatedSpdxElement: osId })
  }

  const seen = new Set<string>()
  for (const pkg of inventory.packages) {
    let id = spdxId('Package', pkg.purl, pkg.path)
    for (let n = 2; seen.has(id); n++) id = spdxId('Package', pkg.purl, pkg.path, String(n))
    seen.add(id)
    packages.push(spdxPackage(pkg, id, annotate))
    relationships.push({ spdxElementId: pkg.kind === 'os' && osId ? osId : root.SPDXID, relationshipType: 'CONTAINS', relatedSpdxElement: id })
  }

  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: image.reference,
    documentNamespace: options.namespace ?? `https://spdx.org/spdxdocs/${TOOL.name}-${image.digest.slice(7, 19)}-${randomUUID()}`,
    creationInfo: { created, creators: [annotator] },
    documentDescribes: [root.SPDXID],
    packages,
    relationships,
  }
}

function spdxPackage(pkg: Package, id: string, annotate: (facts: [string, string | undefined][]) => SpdxPackage['annotations']): SpdxPackage {
  const source = pkg.source ? [pkg.source.name, pkg.source.version].filter(Boolean).join(' ') : undefined
  return {
    SPDXID: id,
    name: pkg.name,
    versionInfo: pkg.version,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    // Package databases write free-text licence names, not SPDX expressions: kept as a comment.
    ...(pkg.licenses?.length ? { licenseComments: `declared in package metadata: ${pkg.licenses.join(', ')}` } : {}),
    copyrightText: 'NOASSERTION',
    ...(source ? { sourceInfo: `built package from: ${source}` } : {}),
    primaryPackagePurpose: 'LIBRARY',
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: pkg.purl }],
    annotations: annotate([
      ['ecosystem', pkg.ecosystem],
      ['kind', pkg.kind],
      ['layer', pkg.layer],
      ['path', pkg.path],
      ['source:name', pkg.source?.name],
      ['source:version', pkg.source?.version],
      ['arch', pkg.arch],
      ['epoch', pkg.epoch === undefined ? undefined : String(pkg.epoch)],
      ['modularity-label', pkg.modularityLabel],
      ['os-owned', pkg.osOwned ? 'true' : undefined],
    ]),
  }
}
