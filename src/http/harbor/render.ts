import type { Finding } from '../../match/types.js'
import { toHarborReport } from '../../report/harbor.js'
import { TOOL } from '../../report/tool.js'
import { toCycloneDx } from '../../sbom/cyclonedx.js'
import { toSpdx } from '../../sbom/spdx.js'
import type { Inventory } from '../../types.js'
import { MIME, type ReportKind, type SbomMediaType } from './mime.js'
import type { HarborArtifact } from './request.js'

/**
 * Report bodies, rendered from an inventory and its CURRENT findings (what the store holds now,
 * after every feed delta), so a report fetched after a delta differs from one fetched before it
 * without any rescan. The scanner block is Vigil's; the artifact block echoes Harbor's request.
 */
export interface RenderRequest {
  digest: string
  artifact: HarborArtifact
  kind: ReportKind
  /** Required when kind is sbom. */
  sbomMediaType?: SbomMediaType
}

export const SCANNER = { name: TOOL.name, vendor: TOOL.vendor, version: TOOL.version } as const

export function renderReport(req: RenderRequest, inventory: Inventory, findings: readonly Finding[], now = new Date()): Record<string, unknown> {
  const generatedAt = now.toISOString()
  if (req.kind === 'vulnerability') {
    return toHarborReport({ inventory, findings: [...findings], suppressed: [], generatedAt }, req.artifact)
  }
  const mediaType = req.sbomMediaType ?? MIME.SPDX_JSON
  const sbom = mediaType === MIME.CYCLONEDX_JSON ? toCycloneDx(inventory, undefined, { timestamp: now }) : toSpdx(inventory, { created: now })
  return {
    generated_at: generatedAt,
    artifact: req.artifact,
    scanner: SCANNER,
    vendor_attributes: {
      'analyzer-set': inventory.analyzerSet,
      packages: inventory.packages.length,
      platform: inventory.image.platform,
    },
    media_type: mediaType,
    sbom,
  }
}
