import type { OsInfo, Package } from '../types.js'
import { schemeForEcosystem } from '../versions/ecosystems.js'

/**
 * Store keys are `ecosystem\0name` with both parts normalised the same way on import and on
 * lookup, so a feed's spelling and an analyzer's spelling meet.
 */
export function storeKey(ecosystem: string, name: string): string {
  const eco = normalizeEcosystem(ecosystem)
  return `${eco}\0${normalizePackageName(eco, name)}`
}

export function splitStoreKey(key: string): { ecosystem: string; name: string } {
  const i = key.indexOf('\0')
  return { ecosystem: key.slice(0, i), name: key.slice(i + 1) }
}

const LANGUAGE_ALIASES: Record<string, string> = {
  pypi: 'PyPI', npm: 'npm', go: 'Go', golang: 'Go', maven: 'Maven', 'crates.io': 'crates.io', cargo: 'crates.io',
  rubygems: 'RubyGems', gem: 'RubyGems', packagist: 'Packagist', composer: 'Packagist', nuget: 'NuGet',
}

/**
 * OSV spellings. Releases are cut to what distro feeds key on: Debian by major (`Debian:12.4`
 * → `Debian:12`), Alpine by branch (`Alpine:3.19.1` → `Alpine:v3.19`).
 */
export function normalizeEcosystem(ecosystem: string): string {
  // Called for every package matched; an inventory has a handful of distinct ecosystems.
  let hit = normalized.get(ecosystem)
  if (hit === undefined) {
    hit = normalizeUncached(ecosystem)
    if (normalized.size > 10_000) normalized.clear()
    normalized.set(ecosystem, hit)
  }
  return hit
}

const normalized = new Map<string, string>()

function normalizeUncached(ecosystem: string): string {
  const lang = LANGUAGE_ALIASES[ecosystem.toLowerCase()]
  if (lang) return lang
  const colon = ecosystem.indexOf(':')
  if (colon < 0) return ecosystem
  const distro = ecosystem.slice(0, colon)
  const release = ecosystem.slice(colon + 1)
  switch (distro.toLowerCase()) {
    case 'debian': {
      const major = /^(\d+)/.exec(release)?.[1]
      return major ? `Debian:${major}` : `Debian:${release}`
    }
    case 'alpine': {
      const branch = /^v?(\d+)\.(\d+)/.exec(release)
      return branch ? `Alpine:v${branch[1]}.${branch[2]}` : `Alpine:${release}`
    }
    case 'suse':
      return `SUSE:${suseRelease(release)}`
    case 'ubuntu':
      // osv.dev writes `Ubuntu:22.04:LTS`; the release is what packages carry. Pro (ESM) stays distinct.
      return `Ubuntu:${release.replace(/:LTS$/, '')}`
    default:
      return ecosystem
  }
}

/**
 * SUSE publishes one advisory per product, and an SLE release is a family of products sharing
 * one package pool: Server, Desktop, SAP, HPC, LTSS and the modules (Basesystem, Containers,
 * ...) of `15 SP3` ship the same builds, and a BCI or SLES image's packages come from several
 * of them. So every `Linux Enterprise <product> N[ SPn]` keys as `Linux Enterprise N[ SPn]`,
 * as Trivy's `SUSE Linux Enterprise 15.3` does. Micro (its own release line) and Package Hub
 * (a community repository an image does not have by default) stay apart.
 */
function suseRelease(release: string): string {
  if (/\bMicro\b|Package Hub/.test(release)) return release
  const m = /^Linux Enterprise .*?\b(\d+)( SP\d+)?$/.exec(release)
  return m ? `Linux Enterprise ${m[1]}${m[2] ?? ''}` : release
}

/**
 * PyPI names are case- and separator-insensitive (PEP 503). npm names are compared in lower
 * case: new names must be lower case (validate-npm-package-name), so a capital is an advisory's
 * spelling or a legacy name (JSONStream) and lowering both sides still meets it; security-wg
 * writes `jQuery` (496) and `Morris.js` (307) for the packages npm and purls spell `jquery` and
 * `morris.js`.
 */
export function normalizePackageName(ecosystem: string, name: string): string {
  switch (ecosystem) {
    case 'PyPI':
      return name.toLowerCase().replace(/[-_.]+/g, '-')
    case 'npm':
    case 'NuGet':
    case 'Packagist':
      return name.toLowerCase()
    default:
      return name
  }
}

/** The ecosystem a package is looked up under: its own, else (OS packages before finalising) the OS's. */
export function packageEcosystem(pkg: Pick<Package, 'ecosystem'>, os?: OsInfo): string {
  return normalizeEcosystem(pkg.ecosystem || os?.ecosystem || '')
}

export function isDistroEcosystem(ecosystem: string): boolean {
  return ecosystem.includes(':') || ecosystem === 'Red Hat' || ecosystem === 'Wolfi' || ecosystem === 'Chainguard'
}

/**
 * Store keys under which advisories for this package live. Debian and Ubuntu advisories are per
 * SOURCE package, Alpine per origin (the `source` field); language packages by their own name.
 * Exactly one key today; a list so that a distro needing both names can add one.
 */
export function affectedKeys(pkg: Pick<Package, 'ecosystem' | 'name' | 'source'>, os?: OsInfo): string[] {
  const eco = packageEcosystem(pkg, os)
  if (!eco) return []
  const name = isDistroEcosystem(eco) ? (pkg.source?.name || pkg.name) : pkg.name
  return [storeKey(eco, name)]
}

/**
 * The version a package's advisories are written against. Distro advisories name source
 * packages at source versions ("fixed in util-linux 2.38.1-5+deb12u3"), so an OS package is
 * compared by its source version where it has one: bsdutils `1:2.38.1-5+deb12u1` (a binary-only
 * epoch) is util-linux `2.38.1-5+deb12u1`, a binNMU `3.18+b1` is `3.18`. An rpm source rpm's file
 * name carries no epoch; the binary's epoch is the source's (Trivy's rpm analyzer takes it so too).
 */
export function advisoryVersion(pkg: Pick<Package, 'ecosystem' | 'version' | 'source' | 'epoch'>, os?: OsInfo): string {
  const source = pkg.source?.version
  if (!source) return pkg.version
  const eco = packageEcosystem(pkg, os)
  if (!isDistroEcosystem(eco)) return pkg.version
  if (pkg.epoch && !source.includes(':') && schemeForEcosystem(eco) === 'rpm') return `${pkg.epoch}:${source}`
  return source
}
