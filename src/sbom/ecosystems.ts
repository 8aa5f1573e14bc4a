import type { PackageURL } from 'packageurl-js'
import type { Ecosystem, OsInfo } from '../types.js'
import { osvEcosystem } from './finalize.js'

/**
 * Purl types and distro names → OSV ecosystem names, for packages read back from an SBOM.
 * Vigil's own analyzers know their ecosystem; an SBOM only has purls (and perhaps an
 * operating-system component), so the ecosystem is reconstructed here.
 */

export const LANGUAGE_PURL_TYPES: Record<string, Ecosystem> = {
  npm: 'npm',
  pypi: 'PyPI',
  golang: 'Go',
  maven: 'Maven',
  cargo: 'crates.io',
  gem: 'RubyGems',
  composer: 'Packagist',
  nuget: 'NuGet',
}

export const OS_PURL_TYPES = new Set(['deb', 'apk', 'rpm'])

const DEBIAN_CODENAMES: Record<string, string> = {
  jessie: '8', stretch: '9', buster: '10', bullseye: '11', bookworm: '12', trixie: '13', forky: '14',
}
const UBUNTU_CODENAMES: Record<string, string> = {
  trusty: '14.04', xenial: '16.04', bionic: '18.04', focal: '20.04', jammy: '22.04', noble: '24.04', oracular: '24.10', plucky: '25.04',
}

/** `debian-10.2`, `alpine-3.19.1`, `3.22.0`, `bookworm`, `centos-7.6.1810` → a release string. */
export function releaseFromDistro(family: string, distro: string | undefined): string | undefined {
  if (!distro) return undefined
  const d = distro.toLowerCase()
  const bare = d.startsWith(`${family}-`) ? d.slice(family.length + 1) : d
  if (family === 'debian' && DEBIAN_CODENAMES[bare]) return DEBIAN_CODENAMES[bare]
  if (family === 'ubuntu' && UBUNTU_CODENAMES[bare]) return UBUNTU_CODENAMES[bare]
  return /^\d/.test(bare) ? bare : undefined
}

/** What an OS package's purl says about its OS (namespace = distro, `distro` qualifier = release). */
export function osFromPurl(purl: PackageURL): OsInfo | undefined {
  if (!OS_PURL_TYPES.has(purl.type) || !purl.namespace) return undefined
  const distro = purl.qualifiers?.distro
  // Trivy's `distro=centos-7.6.1810` names the os-release ID, which an rpm vendor namespace may not.
  const named = distro ? /^([a-z][a-z-]*?)-(\d.*)$/.exec(distro.toLowerCase()) : null
  const family = named?.[1] ?? RPM_VENDOR_FAMILY[purl.namespace.toLowerCase()] ?? purl.namespace.toLowerCase()
  const version = releaseFromDistro(family, distro)
  if (!version) return undefined
  return { family, version, ecosystem: osEcosystem(family, version) }
}

/** The inverse of finalize.ts's rpm purl namespaces: vendor → os-release ID. */
const RPM_VENDOR_FAMILY: Record<string, string> = {
  redhat: 'rhel', alma: 'almalinux', amazon: 'amzn', oracle: 'ol', suse: 'sles', 'cbl-mariner': 'mariner',
}

/** The OSV ecosystem for an OS release: finalize.ts's table, so SBOM input and image scans agree. */
export function osEcosystem(family: string, version: string | undefined): Ecosystem {
  return osvEcosystem(family.toLowerCase(), version ?? '')
}

/** A language purl's package name as its ecosystem spells it. */
export function languagePackageName(purl: PackageURL): string {
  const ns = purl.namespace
  switch (purl.type) {
    case 'maven':
      return ns ? `${ns}:${purl.name}` : purl.name
    case 'npm':
    case 'golang':
    case 'composer':
      return ns ? `${ns}/${purl.name}` : purl.name
    default:
      return purl.name
  }
}
