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
}
