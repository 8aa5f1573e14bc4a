import { CONSUMES, MIME, SBOM_MEDIA_TYPES, sameMediaType, type SbomMediaType } from './mime.js'

/**
 * Parsing of `POST /api/v1/scan` bodies. Lenient where Harbor is loose (unknown fields such as
 * `registry.insecure` and `artifact.size` are ignored, an empty tag means untagged, a missing
 * `enabled_capabilities` means vulnerability as pre-2.11 Harbor implies), strict where a mistake
 * would cost a failed pull later. Wrong JSON types are the spec's 400, bad values its 422 and a
 * request we cannot serve its 501. Messages never quote the authorization value.
 */
export interface HarborArtifact {
  repository: string
  digest: string
  tag?: string
  mime_type?: string
}

export interface Capabilities {
  vulnerability: boolean
  /** Requested SBOM formats; empty when no SBOM was asked for. */
  sbom: SbomMediaType[]
}

export interface ParsedScanRequest {
  /** The registry origin, `http(s)://host[:port]`. */
  registryUrl: string
  /** The whole Authorization header value Harbor sent (Basic or Bearer), if any. Secret. */
  authorization?: string
  artifact: HarborArtifact
  capabilities: Capabilities
}

export class ScanRequestError extends Error {
  constructor(readonly status: 400 | 422 | 501, message: string) {
    super(message)
  }
}

// distribution's reference grammar: path components of lower-case alphanumerics and separators.
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/
const DIGEST = /^sha256:[0-9a-f]{64}$/
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function optionalString(obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new ScanRequestError(400, `${where}.${key} must be a string`)
  return v
}

export function parseScanRequest(body: unknown): ParsedScanRequest {
  if (!isObject(body)) throw new ScanRequestError(400, 'the scan request must be a JSON object')
  const { registry, artifact } = body
  if (registry === undefined || registry === null) throw new ScanRequestError(422, 'missing registry')
  if (!isObject(registry)) throw new ScanRequestError(400, 'registry must be an object')
  if (artifact === undefined || artifact === null) throw new ScanRequestError(422, 'missing artifact')
  if (!isObject(artifact)) throw new ScanRequestError(400, 'artifact must be an object')

  const registryUrl = parseRegistryUrl(optionalString(registry, 'url', 'registry'))
  const authorization = parseAuthorization(optionalString(registry, 'authorization', 'registry'))

  const repository = optionalString(artifact, 'repository', 'artifact')
  if (!repository) throw new ScanRequestError(422, 'missing artifact.repository')
  if (repository.length > 255 || !REPOSITORY.test(repository)) throw new ScanRequestError(422, `invalid artifact.repository "${repository.slice(0, 100)}"`)
  const digest = optionalString(artifact, 'digest', 'artifact')
  if (!digest) throw new ScanRequestError(422, 'missing artifact.digest')
  if (!DIGEST.test(digest)) throw new ScanRequestError(422, `invalid artifact.digest "${digest.slice(0, 80)}": expected sha256:<64 hex>`)
  const tag = optionalString(artifact, 'tag', 'artifact')
  const mimeType = optionalString(artifact, 'mime_type', 'artifact')
  if (mimeType && !CONSUMES.some((m) => sameMediaType(m, mimeType))) {
    throw new ScanRequestError(501, `artifact.mime_type ${mimeType.slice(0, 120)} is not scanned here; this scanner consumes ${CONSUMES.join(', ')}`)
  }
  const out: HarborArtifact = { repository, digest }
  // Harbor sends "" for an untagged artifact; a tag outside the grammar is only an echo, so it is dropped.
  if (tag && TAG.test(tag)) out.tag = tag
  if (mimeType) out.mime_type = mimeType

  return { registryUrl, ...(authorization ? { authorization } : {}), artifact: out, capabilities: parseCapabilities(body.enabled_capabilities) }
}

function parseRegistryUrl(text: string | undefined): string {
  if (!text) throw new ScanRequestError(422, 'missing registry.url')
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new ScanRequestError(422, 'invalid registry.url')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ScanRequestError(422, 'invalid registry.url: the scheme must be http or https')
  if (url.username || url.password) throw new ScanRequestError(422, 'invalid registry.url: credentials belong in registry.authorization')
  if (url.pathname !== '/' && url.pathname !== '' && url.pathname !== '/v2' && url.pathname !== '/v2/') {
    throw new ScanRequestError(422, 'invalid registry.url: expected the registry base URL without a path')
  }
  return url.origin
}

function parseAuthorization(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const m = /^(Basic|Bearer)\s+(\S+)$/i.exec(value.trim())
  if (!m) throw new ScanRequestError(422, 'invalid registry.authorization: expected "Basic <base64>" or "Bearer <token>"')
  if (m[1]!.toLowerCase() === 'basic') {
    const pair = Buffer.from(m[2]!, 'base64').toString('utf8')
    if (!/^[^:]+:/.test(pair)) throw new ScanRequestError(422, 'invalid registry.authorization: the Basic value is not base64 of user:password')
    return `Basic ${m[2]}`
  }
  return `Bearer ${m[2]}`
}

function parseCapabilities(value: unknown): Capabilities {
  if (value === undefined || value === null) return { vulnerability: true, sbom: [] }
  if (!Array.isArray(value)) throw new ScanRequestError(400, 'enabled_capabilities must be an array')
  const out: Capabilities = { vulnerability: false, sbom: [] }
  for (const [i, cap] of value.entries()) {
    const where = `enabled_capabilities[${i}]`
    if (!isObject(cap)) throw new ScanRequestError(400, `${where} must be an object`)
    const type = cap.type
    if (typeof type !== 'string') throw new ScanRequestError(422, `${where}.type is required`)
    if (type !== 'vulnerability' && type !== 'sbom') throw new ScanRequestError(422, `${where}.type "${type.slice(0, 40)}" is not vulnerability or sbom`)
    const produces = cap.produces_mime_types
    if (produces !== undefined && produces !== null) {
      if (!Array.isArray(produces) || produces.some((p) => typeof p !== 'string')) throw new ScanRequestError(400, `${where}.produces_mime_types must be an array of strings`)
      const ours = type === 'vulnerability' ? MIME.VULN_V11 : MIME.SBOM_REPORT
      const other = (produces as string[]).find((p) => !sameMediaType(p, ours))
      if (other !== undefined) throw new ScanRequestError(501, `${where}: this scanner does not produce ${other.slice(0, 120)} for ${type}`)
    }
    if (type === 'vulnerability') {
      out.vulnerability = true
      continue
    }
    out.sbom.push(...sbomMediaTypes(cap.parameters, where))
  }
  if (!out.vulnerability && out.sbom.length === 0) throw new ScanRequestError(422, 'enabled_capabilities enables nothing')
  out.sbom = [...new Set(out.sbom)]
  return out
}

function sbomMediaTypes(parameters: unknown, where: string): SbomMediaType[] {
  // The spec makes parameters optional; without them every format we advertise is on offer.
  if (parameters === undefined || parameters === null) return [...SBOM_MEDIA_TYPES]
  if (!isObject(parameters)) throw new ScanRequestError(400, `${where}.parameters must be an object`)
  const types = parameters.sbom_media_types
  if (types === undefined || types === null) return [...SBOM_MEDIA_TYPES]
  if (!Array.isArray(types) || types.some((t) => typeof t !== 'string')) throw new ScanRequestError(400, `${where}.parameters.sbom_media_types must be an array of strings`)
  if (types.length === 0) throw new ScanRequestError(422, `${where}: missing SBOM media type`)
  return (types as string[]).map((t) => {
    const m = SBOM_MEDIA_TYPES.find((s) => sameMediaType(s, t))
    if (!m) throw new ScanRequestError(422, `${where}: unsupported SBOM media type "${t.slice(0, 80)}"`)
    return m
  })
}
