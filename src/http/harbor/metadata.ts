import { CONSUMES, MIME, SBOM_MEDIA_TYPES } from './mime.js'
import { SCANNER } from './render.js'

/**
 * `GET /api/v1/metadata`. Harbor requires a non-empty scanner name/vendor/version, the Docker v2
 * manifest MIME in every capability's consumes list and a known report MIME in every produces
 * list (reference §3.1). Vulnerability produces v1.1 only: Harbor polls every listed MIME.
 */
export interface ScannerAdapterMetadata {
  scanner: { name: string; vendor: string; version: string }
  capabilities: {
    type: 'vulnerability' | 'sbom'
    consumes_mime_types: string[]
    produces_mime_types: string[]
    additional_attributes?: { sbom_media_types: string[] }
  }[]
  properties: Record<string, string>
}

export const PROPERTY = {
  scannerType: 'harbor.scanner-adapter/scanner-type',
  databaseUpdatedAt: 'harbor.scanner-adapter/vulnerability-database-updated-at',
  registryAuthorizationType: 'harbor.scanner-adapter/registry-authorization-type',
} as const

export function metadata(databaseUpdatedAt: string | undefined): ScannerAdapterMetadata {
  return {
    scanner: { ...SCANNER },
    capabilities: [
      { type: 'vulnerability', consumes_mime_types: [...CONSUMES], produces_mime_types: [MIME.VULN_V11] },
      { type: 'sbom', consumes_mime_types: [...CONSUMES], produces_mime_types: [MIME.SBOM_REPORT], additional_attributes: { sbom_media_types: [...SBOM_MEDIA_TYPES] } },
    ],
    properties: {
      [PROPERTY.scannerType]: 'os-package-vulnerability',
      // Basic: Harbor then hands over robot credentials that stay valid for the whole task, which
      // a queued job needs; a Bearer token Harbor minted could expire while the job waits.
      [PROPERTY.registryAuthorizationType]: 'Basic',
      ...(databaseUpdatedAt ? { [PROPERTY.databaseUpdatedAt]: databaseUpdatedAt } : {}),
    },
  }
}
