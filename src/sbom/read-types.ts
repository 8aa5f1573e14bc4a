import { VigilError } from '../errors.js'
import type { SourcePackage } from '../types.js'

/** What both SBOM readers reduce a document to; read.ts turns it into an Inventory. */

export interface SbomEntry {
  /** bom-ref or SPDXID, for messages. */
  ref: string
  purl: string
  name?: string
  version?: string
  /** `vigil:*` / `aquasecurity:trivy:*` facts, key without prefix → values. */
  facts: Map<string, string[]>
  /** A location the document gives (CycloneDX evidence). */
  location?: string
  source?: SourcePackage
}

export interface SbomEntries {
  format: 'cyclonedx' | 'spdx'
  specVersion: string
  entries: SbomEntry[]
  image: { name?: string; facts: Map<string, string[]> }
  os?: { family: string; version?: string; facts: Map<string, string[]> }
}

export function invalid(name: string, why: string): VigilError {
  return new VigilError('ERR_SBOM_INVALID', `${name}: ${why}`)
}
