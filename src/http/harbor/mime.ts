/**
 * The MIME strings of Harbor's Pluggable Scanner API (reference/harbor-api.md §2) and the report
 * content negotiation. Harbor sends exactly one MIME in `Accept` and matches strings exactly;
 * we compare media types after normalising case, whitespace and parameter order, which accepts
 * every spelling Harbor or a hand-written client produces and nothing else.
 */
export const MIME = {
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  DOCKER_MANIFEST_V2: 'application/vnd.docker.distribution.manifest.v2+json',
  METADATA_V10: 'application/vnd.scanner.adapter.metadata+json; version=1.0',
  METADATA_V11: 'application/vnd.scanner.adapter.metadata+json; version=1.1',
  SCAN_REQUEST_V10: 'application/vnd.scanner.adapter.scan.request+json; version=1.0',
  SCAN_REQUEST_V11: 'application/vnd.scanner.adapter.scan.request+json; version=1.1',
  SCAN_RESPONSE: 'application/vnd.scanner.adapter.scan.response+json; version=1.0',
  VULN_NATIVE_V10: 'application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0',
  VULN_V11: 'application/vnd.security.vulnerability.report; version=1.1',
  VULN_RAW: 'application/vnd.scanner.adapter.vuln.report.raw',
  SBOM_REPORT: 'application/vnd.security.sbom.report+json; version=1.0',
  ERROR: 'application/vnd.scanner.adapter.error+json; version=1.0',
  SPDX_JSON: 'application/spdx+json',
  CYCLONEDX_JSON: 'application/vnd.cyclonedx+json',
} as const

/** What we scan: the two single-image manifest types (Harbor walks an index's children itself). */
export const CONSUMES = [MIME.OCI_MANIFEST, MIME.DOCKER_MANIFEST_V2] as const
export const SBOM_MEDIA_TYPES = [MIME.SPDX_JSON, MIME.CYCLONEDX_JSON] as const
export type SbomMediaType = (typeof SBOM_MEDIA_TYPES)[number]

/**
 * Report MIMEs of the spec that we do not produce. Asking for one is the spec's 501 ("no
 * capability to handle the mime type"); advertising them would make Harbor poll for them
 * (reference §6.3), so the vulnerability capability lists v1.1 only.
 */
const KNOWN_UNPRODUCED = [MIME.VULN_NATIVE_V10, MIME.VULN_RAW]

/** `type/subtype; k=v` → lower-case type, parameters sorted, no spaces; undefined when malformed. */
export function normalizeMediaType(text: string): string | undefined {
  const [head, ...params] = text.split(';')
  const type = head!.trim().toLowerCase()
  if (!/^[a-z0-9!#$&^_.+*-]+\/[a-z0-9!#$&^_.+*-]+$/.test(type)) return undefined
  const pairs: string[] = []
  for (const p of params) {
    const eq = p.indexOf('=')
    if (eq < 0) {
      if (p.trim() === '') continue
      return undefined
    }
    const key = p.slice(0, eq).trim().toLowerCase()
    const value = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1')
    // q is an Accept weight, not part of the media type.
    if (key !== 'q') pairs.push(`${key}=${value}`)
  }
  pairs.sort()
  return [type, ...pairs].join(';')
}

export function sameMediaType(a: string, b: string): boolean {
  const na = normalizeMediaType(a)
  return na !== undefined && na === normalizeMediaType(b)
}

export type ReportKind = 'vulnerability' | 'sbom'

export type Negotiated =
  | { ok: true; kind: ReportKind; mime: string }
  /** 501: a report MIME of the spec we do not produce; 406: not a report MIME at all. */
  | { ok: false; status: 501 | 406; message: string }

/**
 * The report the `Accept` header asks for. A missing header, `*∕*` or `application/*` means the
 * v1.1 vulnerability report (as the trivy adapter does); a list is tried in order, first match
 * wins. Only MIMEs we advertise are answered.
 */
export function negotiateReport(accept: string | undefined): Negotiated {
  const values = (accept ?? '').split(',').map((v) => v.trim()).filter(Boolean)
  if (values.length === 0) return { ok: true, kind: 'vulnerability', mime: MIME.VULN_V11 }
  let unproduced: string | undefined
  for (const value of values) {
    const n = normalizeMediaType(value)
    if (n === undefined) continue
    const type = n.split(';')[0]
    if (type === '*/*' || type === 'application/*') return { ok: true, kind: 'vulnerability', mime: MIME.VULN_V11 }
    if (n === normalizeMediaType(MIME.VULN_V11)) return { ok: true, kind: 'vulnerability', mime: MIME.VULN_V11 }
    if (n === normalizeMediaType(MIME.SBOM_REPORT)) return { ok: true, kind: 'sbom', mime: MIME.SBOM_REPORT }
    if (KNOWN_UNPRODUCED.some((m) => normalizeMediaType(m) === n)) unproduced ??= value
  }
  if (unproduced !== undefined) return { ok: false, status: 501, message: `this scanner does not produce ${unproduced}; it produces ${MIME.VULN_V11} and ${MIME.SBOM_REPORT}` }
  return { ok: false, status: 406, message: `unsupported Accept "${(accept ?? '').slice(0, 200)}": use ${MIME.VULN_V11} or ${MIME.SBOM_REPORT}` }
}

/** The `sbom_media_type` query value, exactly one of the two the spec names. */
export function parseSbomMediaType(value: unknown): SbomMediaType | undefined {
  if (typeof value !== 'string') return undefined
  return SBOM_MEDIA_TYPES.find((m) => sameMediaType(m, value))
}
