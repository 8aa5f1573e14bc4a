import { PackageURL } from 'packageurl-js'

/**
 * Purls per the purl spec, through packageurl-js (it does the percent-encoding and the per-type
 * name normalisation the spec asks for). One defect is worked around here: packageurl-js 2.0.1
 * throws a ReferenceError ("throws is not defined") from its golang validator for any `v…`
 * version that is not strict semver (`v1.9`, Go toolchains like `go1.20`), on both build and
 * parse. Go versions are written as Go tools write them, so for those the version is set apart
 * from the library's validation.
 */
export function makePurl(
  type: string,
  namespace: string | undefined,
  name: string,
  version: string | undefined,
  qualifiers?: Record<string, string | undefined>,
  subpath?: string,
): string {
  const q: Record<string, string> = {}
  for (const [k, v] of Object.entries(qualifiers ?? {})) if (v !== undefined && v !== '') q[k] = v
  const build = (ver: string | undefined) =>
    new PackageURL(type, namespace || undefined, name, ver || undefined, Object.keys(q).length ? q : undefined, subpath).toString()
  try {
    return build(version)
  } catch (err) {
    if (!(err instanceof ReferenceError) || !version) throw err
    return withVersion(build(undefined), version)
  }
}

function encodeVersion(version: string): string {
  return encodeURIComponent(version).replace(/%3A/gi, ':')
}

/** Inserts `@version` into a version-less purl string, before its qualifiers and subpath. */
function withVersion(purl: string, version: string): string {
  const cut = purl.search(/[?#]/)
  return cut < 0 ? `${purl}@${encodeVersion(version)}` : `${purl.slice(0, cut)}@${encodeVersion(version)}${purl.slice(cut)}`
}

export function parsePurl(purl: string): PackageURL {
  try {
    return PackageURL.fromString(purl)
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err
    // Same library defect as in makePurl: parse without the version, then put it back.
    const m = /^([^?#]*)@([^?#/]*)(.*)$/.exec(purl)
    if (!m?.[1] || m[2] === undefined) throw err
    const parsed = PackageURL.fromString(m[1] + (m[3] ?? ''))
    parsed.version = decodeURIComponent(m[2])
    return parsed
  }
}

/** A purl without qualifiers and subpath: how Vigil compares inventories with Trivy's. */
export function purlWithoutQualifiers(purl: string): string {
  const p = parsePurl(purl)
  return makePurl(p.type, p.namespace ?? undefined, p.name, p.version ?? undefined)
}
