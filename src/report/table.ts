import type { Finding, Severity } from '../match/types.js'
import { compareFindings, countBySeverity } from './severity.js'
import type { ScanReport } from './types.js'
import { isPastEndOfLife } from '../sbom/eol.js'

/**
 * The terminal table: one block per severity (worst first), rows by risk within it. Plain ASCII;
 * colour (severity names only) when writing to a TTY and NO_COLOR is unset.
 */
const COLOUR: Record<Severity, string> = {
  CRITICAL: '\x1b[1;31m',
  HIGH: '\x1b[31m',
  MEDIUM: '\x1b[33m',
  LOW: '\x1b[36m',
  NEGLIGIBLE: '\x1b[37m',
  UNKNOWN: '\x1b[90m',
}
const RESET = '\x1b[0m'
const HEADERS = ['PACKAGE', 'INSTALLED', 'FIXED', 'ID', 'SEVERITY', 'RISK'] as const
/** Warnings listed under the summary; the JSON report has them all. */
const MAX_WARNINGS_SHOWN = 10
/** Long fixed-version lists and names would make every row wide; cells are cut with `~`. */
const MAX_CELL = 48

function cell(text: string): string {
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}~` : text
}

function row(f: Finding): string[] {
  const fixed = f.state === 'wont-fix' ? "(won't fix)" : f.fixedVersions.length ? f.fixedVersions.join(', ') : '(no fix)'
  return [f.name, f.installed, fixed, f.id, f.severity, String(f.risk)].map(cell)
}

export function renderTable(report: ScanReport, options: { colour?: boolean } = {}): string {
  const { inventory } = report
  const findings = [...report.findings].sort(compareFindings)
  const counts = countBySeverity(findings)
  const summary = (Object.entries(counts) as [Severity, number][]).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`).join(', ')
  const os = inventory.os ? `${inventory.os.prettyName ?? `${inventory.os.family} ${inventory.os.version}`}` : 'unknown OS'
  const lines = [
    `${inventory.image.reference} (${inventory.image.digest})`,
    `${os}; ${inventory.packages.length} packages; ${findings.length} findings${summary ? `: ${summary}` : ''}`,
  ]
  if (isPastEndOfLife(inventory.os?.endOfLife)) lines.push(`${os} reached its end of life on ${inventory.os!.endOfLife}: its vendor publishes no more fixes, so few findings mean little`)
  if (report.suppressed.length) lines.push(`${report.suppressed.length} suppressed by VEX or the ignore file`)
  const warnings = inventory.warnings ?? []
  if (warnings.length) {
    lines.push(`WARNING: the scan skipped content (${warnings.length} warning${warnings.length === 1 ? '' : 's'}); findings may be incomplete:`)
    for (const w of warnings.slice(0, MAX_WARNINGS_SHOWN)) lines.push(`  ${w.code}: ${w.message}`)
    if (warnings.length > MAX_WARNINGS_SHOWN) lines.push(`  … and ${warnings.length - MAX_WARNINGS_SHOWN} more (--format json lists them all)`)
  }
  if (findings.length === 0) return `${lines.join('\n')}\n`

  const rows = findings.map(row)
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const fmt = (cells: readonly string[], colourFor?: Severity) =>
    cells
      .map((c, i) => {
        const padded = i === cells.length - 1 ? c : c.padEnd(widths[i]!)
        return colourFor && options.colour && i === 4 ? `${COLOUR[colourFor]}${padded}${RESET}` : padded
      })
      .join('  ')
      .trimEnd()
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  lines.push('', fmt(HEADERS), rule)
  let current: Severity | undefined
  findings.forEach((f, i) => {
    if (current !== undefined && f.severity !== current) lines.push('')
    current = f.severity
    lines.push(fmt(rows[i]!, f.severity))
  })
  return `${lines.join('\n')}\n`
}
