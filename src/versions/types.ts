/** Version scheme names, as `vigil version compare <scheme>` takes them. */
export type SchemeName =
  | 'dpkg' | 'apk' | 'rpm' | 'semver' | 'pep440' | 'go' | 'maven' | 'rubygems' | 'nuget' | 'composer' | 'generic'

export type Ordering = -1 | 0 | 1

export interface VersionScheme {
  readonly name: SchemeName
  /** Total order. Throws VigilError ERR_VERSION_INVALID for a string the scheme cannot parse. */
  compare(a: string, b: string): Ordering
  /** True when `v` parses under this scheme. */
  isValid(v: string): boolean
  /**
   * Only for schemes whose advisories carry range strings in the scheme's own syntax: npm ranges
   * (semver, e.g. nodejs security-wg `vulnerable_versions`) and PEP 440 specifier sets (pep440).
   * OSV ECOSYSTEM/SEMVER events need only `compare`. Throws ERR_VERSION_INVALID on a bad range.
   */
  satisfies?(version: string, range: string): boolean
}
