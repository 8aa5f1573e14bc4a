import type { SchemeName } from './types.js'

/**
 * OSV ecosystem name → version scheme. Distro ecosystems carry a release suffix
 * (`Debian:12`, `Alpine:v3.19`, `Red Hat:enterprise_linux:9::appstream`), so the part before the
 * first `:` decides. Anything unknown falls back to `generic`.
 */
const BY_ECOSYSTEM: Readonly<Record<string, SchemeName>> = {
  'Debian': 'dpkg',
  'Ubuntu': 'dpkg',
  'Alpine': 'apk',
  'Wolfi': 'apk',
  'Chainguard': 'apk',
  'Red Hat': 'rpm',
  'AlmaLinux': 'rpm',
  'Rocky Linux': 'rpm',
  'SUSE': 'rpm',
  'openSUSE': 'rpm',
  'Mariner': 'rpm',
  'Azure Linux': 'rpm',
  'Photon OS': 'rpm',
  'Photon': 'rpm',
  'Amazon Linux': 'rpm',
  'Oracle Linux': 'rpm',
  'openEuler': 'rpm',
  'npm': 'semver',
  'crates.io': 'semver',
  'PyPI': 'pep440',
  'Go': 'go',
  'Maven': 'maven',
  'RubyGems': 'rubygems',
  'NuGet': 'nuget',
  'Packagist': 'composer',
  // Trivy compares these with its generic comparer (go-version, semver-like). Hex and SwiftPM
  // versions are SemVer, so semver; Pub and ConanCenter (free-form: `8.43`) fall to generic.
  'Hex': 'semver',
  'SwiftURL': 'semver',
  // CocoaPods versions follow RubyGems rules (Trivy uses its rubygems comparer for them).
  'CocoaPods': 'rubygems',
}

export function schemeForEcosystem(eco: string): SchemeName {
  const colon = eco.indexOf(':')
  const base = (colon >= 0 ? eco.slice(0, colon) : eco).trim()
  return BY_ECOSYSTEM[base] ?? 'generic'
}
