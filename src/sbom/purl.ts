import { PackageURL } from 'packageurl-js'

/**
 * Purls per the purl spec, through packageurl-js (it does the percent-encoding and the per-type
 * name normalisation the spec asks for).
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
  return new PackageURL(type, namespace || undefined, name, version || undefined, Object.keys(q).length ? q : undefined, subpath).toString()
}

export function parsePurl(purl: string): PackageURL {
  return PackageURL.fromString(purl)
}

/** A purl without qualifiers and subpath: how Vigil compares inventories with Trivy's. */
export function purlWithoutQualifiers(purl: string): string {
  const p = PackageURL.fromString(purl)
  return new PackageURL(p.type, p.namespace, p.name, p.version, undefined, undefined).toString()
}
