import { describe, expect, it } from 'vitest'
import { MIME, negotiateReport, normalizeMediaType, parseSbomMediaType } from '../../src/http/harbor/mime.js'
import { parseScanRequest, ScanRequestError } from '../../src/http/harbor/request.js'

const DIGEST = `sha256:${'ab'.repeat(32)}`
const BASIC = `Basic ${Buffer.from('robot$scanner-x:pw').toString('base64')}`
// The body Harbor actually sends (reference §3.2), extras included.
const harborBody = () => ({
  registry: { url: 'http://core:8080', authorization: BASIC, insecure: false },
  artifact: { repository: 'library/nginx', tag: '1.27', digest: DIGEST, mime_type: MIME.OCI_MANIFEST, size: 3040 },
  enabled_capabilities: [{ type: 'vulnerability', produces_mime_types: [MIME.VULN_V11], parameters: null }],
})

function statusOf(body: unknown): number | 'ok' {
  try {
    parseScanRequest(body)
    return 'ok'
  } catch (err) {
    if (err instanceof ScanRequestError) return err.status
    throw err
  }
}

describe('scan request parsing', () => {
  it('accepts what Harbor sends and ignores its extra fields', () => {
    const r = parseScanRequest(harborBody())
    expect(r).toEqual({
      registryUrl: 'http://core:8080',
      authorization: BASIC,
      artifact: { repository: 'library/nginx', digest: DIGEST, tag: '1.27', mime_type: MIME.OCI_MANIFEST },
      capabilities: { vulnerability: true, sbom: [] },
    })
  })

  it('treats a missing enabled_capabilities as vulnerability (Harbor before 2.11)', () => {
    const { enabled_capabilities: _e, ...old } = harborBody()
    expect(parseScanRequest(old).capabilities).toEqual({ vulnerability: true, sbom: [] })
  })

  it('reads SBOM parameters and an untagged artifact', () => {
    const body = harborBody()
    body.artifact.tag = ''
    const r = parseScanRequest({ ...body, enabled_capabilities: [{ type: 'sbom', produces_mime_types: [MIME.SBOM_REPORT], parameters: { sbom_media_types: ['application/spdx+json'] } }] })
    expect(r.artifact.tag).toBeUndefined()
    expect(r.capabilities).toEqual({ vulnerability: false, sbom: [MIME.SPDX_JSON] })
  })

  it('answers 400 for wrong JSON types, 422 for bad values, 501 for what it cannot scan', () => {
    const cases: [unknown, number][] = [
      ['text', 400],
      [{ ...harborBody(), registry: 'http://core' }, 400],
      [{ ...harborBody(), enabled_capabilities: {} }, 400],
      [{ artifact: harborBody().artifact }, 422],
      [{ ...harborBody(), registry: { url: 'ftp://core' } }, 422],
      [{ ...harborBody(), registry: { url: 'not a url' } }, 422],
      [{ ...harborBody(), registry: { url: 'https://u:p@core' } }, 422],
      [{ ...harborBody(), registry: { url: 'https://core', authorization: 'Token abc' } }, 422],
      [{ ...harborBody(), registry: { url: 'https://core', authorization: 'Bearer: abc' } }, 422],
      [{ ...harborBody(), artifact: { repository: 'library/nginx' } }, 422],
      [{ ...harborBody(), artifact: { repository: 'Library/Nginx', digest: DIGEST } }, 422],
      [{ ...harborBody(), artifact: { repository: 'library/nginx', digest: 'sha256:1234' } }, 422],
      [{ ...harborBody(), enabled_capabilities: [{ type: 'license' }] }, 422],
      [{ ...harborBody(), enabled_capabilities: [{ type: 'sbom', parameters: { sbom_media_types: [] } }] }, 422],
      [{ ...harborBody(), enabled_capabilities: [{ type: 'sbom', parameters: { sbom_media_types: ['text/plain'] } }] }, 422],
      [{ ...harborBody(), enabled_capabilities: [{ type: 'vulnerability', produces_mime_types: [MIME.VULN_RAW] }] }, 501],
      [{ ...harborBody(), artifact: { repository: 'library/nginx', digest: DIGEST, mime_type: 'application/vnd.oci.image.index.v1+json' } }, 501],
    ]
    for (const [body, status] of cases) expect([JSON.stringify(body).slice(0, 140), statusOf(body)]).toEqual([JSON.stringify(body).slice(0, 140), status])
  })

  it('never quotes the authorization value in an error message', () => {
    const secret = 'Bearer: very-secret-token'
    try {
      parseScanRequest({ ...harborBody(), registry: { url: 'https://core', authorization: secret } })
      expect.unreachable()
    } catch (err) {
      expect((err as Error).message).not.toContain('very-secret-token')
    }
  })
})

describe('report content negotiation', () => {
  it('matches the advertised MIMEs whatever the spelling', () => {
    expect(negotiateReport(MIME.VULN_V11)).toEqual({ ok: true, kind: 'vulnerability', mime: MIME.VULN_V11 })
    expect(negotiateReport('application/vnd.security.vulnerability.report;version=1.1')).toMatchObject({ ok: true, kind: 'vulnerability' })
    expect(negotiateReport('APPLICATION/vnd.security.sbom.report+json; VERSION="1.0"')).toMatchObject({ ok: true, kind: 'sbom' })
    expect(negotiateReport(undefined)).toMatchObject({ ok: true, kind: 'vulnerability' })
    expect(negotiateReport('*/*')).toMatchObject({ ok: true, kind: 'vulnerability' })
    expect(negotiateReport(`text/html, ${MIME.SBOM_REPORT}`)).toMatchObject({ ok: true, kind: 'sbom' })
  })

  it('gives 501 for spec report MIMEs it does not produce and 406 for anything else', () => {
    expect(negotiateReport(MIME.VULN_NATIVE_V10)).toMatchObject({ ok: false, status: 501 })
    expect(negotiateReport(MIME.VULN_RAW)).toMatchObject({ ok: false, status: 501 })
    expect(negotiateReport('application/vnd.security.vulnerability.report; version=1.2')).toMatchObject({ ok: false, status: 406 })
    expect(negotiateReport('text/html')).toMatchObject({ ok: false, status: 406 })
    expect(negotiateReport(';;;')).toMatchObject({ ok: false, status: 406 })
  })

  it('normalises media types and SBOM formats', () => {
    expect(normalizeMediaType(' Application/JSON ; b=2; a=1 ')).toBe('application/json;a=1;b=2')
    expect(normalizeMediaType('no-slash')).toBeUndefined()
    expect(parseSbomMediaType('application/spdx+json')).toBe(MIME.SPDX_JSON)
    expect(parseSbomMediaType('application/vnd.cyclonedx+json')).toBe(MIME.CYCLONEDX_JSON)
    expect(parseSbomMediaType('application/spdx')).toBeUndefined()
    expect(parseSbomMediaType(['application/spdx+json'])).toBeUndefined()
  })
})
