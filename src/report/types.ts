import type { Finding } from '../match/types.js'
import type { Inventory } from '../types.js'

/** Why a finding is left out of the report: an OpenVEX statement or the ignore file. */
export type Suppression =
  | {
      kind: 'vex'
      status: 'not_affected' | 'fixed'
      /** OpenVEX justification (`vulnerable_code_not_present`, …). */
      justification?: string
      statement?: string
      /** The VEX document it came from. */
      source: string
    }
  | { kind: 'ignore'; reason?: string; expires?: string; source: string }

export interface SuppressedFinding {
  finding: Finding
  suppression: Suppression
}

/** Everything a report renders: one inventory, the findings the policy kept, and what it hid. */
export interface ScanReport {
  inventory: Inventory
  findings: Finding[]
  suppressed: SuppressedFinding[]
  /** RFC 3339 UTC. */
  generatedAt: string
}
