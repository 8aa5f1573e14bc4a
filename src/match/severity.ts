import cvss from 'ae-cvss-calculator'
import type { CompiledAdvisory } from './model.js'
import type { CvssScore, Finding, Severity } from './types.js'

// ae-cvss-calculator is CommonJS: named imports do not resolve under Node ESM.
const { Cvss2, Cvss3P0, Cvss3P1, Cvss4P0 } = cvss

/** Version of a CVSS vector by its prefix; v2 vectors have none. */
export function cvssVersion(vector: string): CvssScore['version'] | undefined {
  if (vector.startsWith('CVSS:4.0/')) return '4.0'
  if (vector.startsWith('CVSS:3.1/')) return '3.1'
  if (vector.startsWith('CVSS:3.0/')) return '3.0'
  if (/^\(?AV:[LAN]\/AC:[HML]\/Au:[MSN]\//.test(vector)) return '2.0'
  return undefined
}

/**
 * Base score of a vector, or undefined when the vector is not a complete, valid one (the
 * calculator fills missing metrics with X and returns no `base` for those).
 */
export function cvssBaseScore(vector: string): CvssScore | undefined {
  const v = vector.trim().replace(/^\((.*)\)$/, '$1')
  const version = cvssVersion(v)
  if (!version) return undefined
  try {
    const calc = version === '4.0' ? new Cvss4P0(v) : version === '3.1' ? new Cvss3P1(v) : version === '3.0' ? new Cvss3P0(v) : new Cvss2(v)
    const scores = calc.calculateScores() as { base?: number }
    if (typeof scores.base !== 'number' || !Number.isFinite(scores.base)) return undefined
    return { version, vector: v, score: scores.base }
  } catch {
    return undefined
  }
}

/**
 * A feed's CVSS: the score computed from its vector, else, when the vector does not validate
 * but says its version and the feed gives a base score (npm security-wg 504 writes `I:U/A:U`
 * next to `cvss_score: 7.5`), that score, marked `feedScore`.
 */
export function cvssFromFeed(vector: string, score: unknown): CvssScore | undefined {
  const computed = cvssBaseScore(vector)
  if (computed) return computed
  const v = vector.trim().replace(/^\((.*)\)$/, '$1')
  const version = cvssVersion(v)
  if (!version || typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 10) return undefined
  return { version, vector: v, score, feedScore: true }
}

const VERSION_RANK: Record<CvssScore['version'], number> = { '4.0': 4, '3.1': 3, '3.0': 2, '2.0': 1 }

/** The preferred score: v4 > v3.1 > v3.0 > v2 (DESIGN.md), first listed within a version. */
export function preferredCvss(scores: readonly CvssScore[]): CvssScore | undefined {
  let best: CvssScore | undefined
  for (const s of scores) if (!best || VERSION_RANK[s.version] > VERSION_RANK[best.version]) best = s
  return best
}

/** NVD's qualitative ratings; v2 has no CRITICAL band and no NONE. */
export function severityFromCvss(score: CvssScore): Severity {
  const s = score.score
  if (score.version === '2.0') return s >= 7 ? 'HIGH' : s >= 4 ? 'MEDIUM' : 'LOW'
  if (s >= 9) return 'CRITICAL'
  if (s >= 7) return 'HIGH'
  if (s >= 4) return 'MEDIUM'
  if (s > 0) return 'LOW'
  return 'NEGLIGIBLE'
}

/** Vendor severity where the feed has one, else the preferred CVSS score's band. */
export function severityOf(adv: Pick<CompiledAdvisory, 'vendorSeverity' | 'cvss'>): { severity: Severity; source: Finding['severitySource'] } {
  if (adv.vendorSeverity && adv.vendorSeverity !== 'UNKNOWN') return { severity: adv.vendorSeverity, source: 'vendor' }
  const best = preferredCvss(adv.cvss)
  if (best) return { severity: severityFromCvss(best), source: best.feedScore ? 'cvss-score' : 'cvss' }
  return { severity: 'UNKNOWN', source: 'none' }
}

/** Feed words (GHSA, npm, Debian urgency, trivy) → Severity; unknown words → undefined. */
export function parseSeverityWord(word: string | undefined): Severity | undefined {
  if (!word) return undefined
  const w = word.toLowerCase().replace(/\*+$/, '').trim()
  switch (w) {
    case 'critical':
      return 'CRITICAL'
    case 'high':
    case 'important':
      return 'HIGH'
    case 'medium':
    case 'moderate':
      return 'MEDIUM'
    case 'low':
      return 'LOW'
    case 'unimportant':
    case 'negligible':
    case 'none':
      return 'NEGLIGIBLE'
    default:
      return undefined
  }
}
