import { toCycloneDx } from '../sbom/cyclonedx.js'
import { toHarborReport } from './harbor.js'
import { toJsonReport } from './json.js'
import { toSarif } from './sarif.js'
import { renderTable } from './table.js'
import type { ScanReport } from './types.js'

/** The report formats of `vigil scan --format`, one line each. */
export const REPORT_FORMATS = {
  table: (r: ScanReport, o: { colour?: boolean }) => renderTable(r, o),
  json: (r: ScanReport) => `${JSON.stringify(toJsonReport(r), null, 2)}\n`,
  cyclonedx: (r: ScanReport) => `${JSON.stringify(toCycloneDx(r.inventory, r.findings, { suppressed: r.suppressed, timestamp: new Date(r.generatedAt) }), null, 2)}\n`,
  sarif: (r: ScanReport) => `${JSON.stringify(toSarif(r), null, 2)}\n`,
  harbor: (r: ScanReport) => `${JSON.stringify(toHarborReport(r), null, 2)}\n`,
} as const satisfies Record<string, (r: ScanReport, o: { colour?: boolean }) => string>

export type ReportFormat = keyof typeof REPORT_FORMATS

export function isReportFormat(value: string): value is ReportFormat {
  return Object.hasOwn(REPORT_FORMATS, value)
}

export function renderReport(format: ReportFormat, report: ScanReport, options: { colour?: boolean } = {}): string {
  return REPORT_FORMATS[format](report, options)
}

export type { ScanReport, SuppressedFinding, Suppression } from './types.js'
