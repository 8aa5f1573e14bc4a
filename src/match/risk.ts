import type { FixState, Severity } from './types.js'

export interface RiskInput {
  severity: Severity
  /** Preferred CVSS base score (0–10), when there is one; it refines the severity band. */
  cvssScore?: number
  /** EPSS probability of exploitation in the next 30 days (0–1). */
  epss?: number
  kev?: boolean
  state: FixState
}

/** Band midpoints, used when no CVSS score is known. UNKNOWN is treated as MEDIUM-low, not as zero. */
const SEVERITY_IMPACT: Record<Severity, number> = { CRITICAL: 9.5, HIGH: 8, MEDIUM: 5.5, LOW: 2.5, NEGLIGIBLE: 0.5, UNKNOWN: 4 }

/**
 * A fix you can install makes the finding actionable (and patch diffs make exploits easier);
 * "will not fix" is the vendor judging the impact low. See docs/risk.md.
 */
const FIX_FACTOR: Record<FixState, number> = { fixed: 1, affected: 0.9, 'wont-fix': 0.8 }

/**
 * risk = 100 × impact × likelihood × fix, where
 *   impact     = CVSS base / 10 (or the severity band midpoint / 10)
 *   likelihood = 0.3 + 0.7 × (KEV ? 1 : √EPSS)   — √ spreads EPSS's long tail of small values
 *   fix        = 1 (fixed) | 0.9 (no fix yet) | 0.8 (will not fix)
 * rounded to an integer in [0, 100]. Monotonic in every input.
 */
export function riskScore(input: RiskInput): number {
  const base = clamp(input.cvssScore ?? SEVERITY_IMPACT[input.severity], 0, 10)
  const epss = clamp(input.epss ?? 0, 0, 1)
  const likelihood = 0.3 + 0.7 * (input.kev ? 1 : Math.sqrt(epss))
  const risk = 100 * (base / 10) * likelihood * FIX_FACTOR[input.state]
  return Math.round(clamp(risk, 0, 100))
}

function clamp(v: number, lo: number, hi: number): number {
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : lo
}
