import { RELEASE_FILE_RANK } from '../analyzers/os-release.js'
import type { AnalyzerResult } from '../analyzers/types.js'
import type { OsInfo, Package } from '../types.js'
import { endOfLife } from './eol.js'
import { makePurl } from './purl.js'

/**
 * The step after the layers are merged: OS packages learn their ecosystem and purl (both depend
 * on the OS, which only the merged image knows), and language packages whose files an OS
 * package owns are marked `osOwned`.
 */

export interface OsFact {
  /** The release file the fact came from (`etc/os-release`, `etc/alpine-release`, ...). */
  readonly path: string
  readonly os: NonNullable<AnalyzerResult['os']>
}

/**
 * The OS of the merged image. `facts` in layer order (oldest first); the highest-ranked file
 * wins (os-release over distro files), and for the same file the newest layer wins.
 */
export function osInfoFromFacts(facts: Iterable<OsFact>): OsInfo | undefined {
  let best: OsFact | undefined
  let bestRank = -1
  for (const fact of facts) {
    const rank = RELEASE_FILE_RANK[fact.path] ?? 0
    if (fact.os.family && rank >= bestRank) {
      best = fact
      bestRank = rank
    }
  }
  if (!best?.os.family) return undefined
  const family = best.os.family
  const version = best.os.version ?? ''
  const eol = endOfLife(family, version)
  return {
    family,
    version,
    ...(best.os.prettyName ? { prettyName: best.os.prettyName } : {}),
    ecosystem: osvEcosystem(family, version),
    ...(eol ? { endOfLife: eol } : {}),
  }
}

function versionParts(version: string, n: number): string | undefined {
  const parts = version.split('.')
  if (parts.length < n || parts.slice(0, n).some((p) => !/^\d+$/.test(p))) return undefined
  return parts.slice(0, n).join('.')
}

/** The OSV ecosystem name for an OS release (OSV schema, "ecosystems"), release in OSV's form. */
export function osvEcosystem(family: string, version: string): string {
  const major = versionParts(version, 1)
  const majorMinor = versionParts(version.split('_')[0] ?? '', 2)
  const withRelease = (name: string, release: string | undefined): string => (release ? `${name}:${release}` : name)
  switch (family) {
    case 'debian': return withRelease('Debian', major)
    case 'ubuntu': return withRelease('Ubuntu', majorMinor)
    // Alpine's secdb branches are `v3.19`; a release `3.19.1` or edge `3.20.0_alpha2024…` maps to its branch.
    case 'alpine': return withRelease('Alpine', majorMinor ? `v${majorMinor}` : undefined)
    // RHEL rebuilds carry no advisories of their own in OSV: Red Hat's data applies (as Trivy does).
    case 'rhel': case 'centos': return 'Red Hat'
    case 'almalinux': return withRelease('AlmaLinux', major)
    case 'rocky': return withRelease('Rocky Linux', major)
    case 'sles': {
      const [maj, sp] = version.split('.')
      return withRelease('SUSE', maj ? `Linux Enterprise Server ${maj}${sp && sp !== '0' ? ` SP${sp}` : ''}` : undefined)
    }
    case 'sle-micro': return withRelease('SUSE', version ? `Linux Enterprise Micro ${version}` : undefined)
    case 'sl-micro': return withRelease('SUSE', version ? `Linux Micro ${version}` : undefined)
    case 'opensuse-leap': return withRelease('openSUSE', version ? `Leap ${version}` : undefined)
    case 'opensuse-tumbleweed': return 'openSUSE:Tumbleweed'
    // `etc/mariner-release` says `2.0.20220226`; the release is `2.0`.
    case 'mariner': return withRelease('Mariner', majorMinor)
    case 'azurelinux': return withRelease('Azure Linux', majorMinor)
    case 'photon': return withRelease('Photon OS', version || undefined)
    // Not OSV ecosystems: the names Vigil's ALAS and Oracle readers key on. Amazon Linux 1 says `2018.03`.
    case 'amzn': return withRelease('Amazon Linux', version.startsWith('2018.') ? '1' : major)
    case 'ol': return withRelease('Oracle Linux', major)
    case 'wolfi': return 'Wolfi'
    case 'chainguard': return 'Chainguard'
    default: return withRelease(family, version || undefined)
  }
}

type OsPurlType = 'deb' | 'apk' | 'rpm'

/** Which database a package came from decides its purl type; the OS only names the namespace. */
function purlTypeOf(pkg: Package): OsPurlType | undefined {
  if (pkg.path.includes('dpkg/')) return 'deb'
  if (pkg.path.includes('apk/db/')) return 'apk'
  if (pkg.path.includes('rpm/') || pkg.path.includes('rpmmanifest/')) return 'rpm'
  return undefined
}

// Trivy's rpm namespaces (pkg/purl): the vendor, which is not always the os-release ID.
const RPM_NAMESPACE: Readonly<Record<string, string>> = {
  rhel: 'redhat',
  almalinux: 'alma',
  amzn: 'amazon',
  ol: 'oracle',
  sles: 'suse',
  'opensuse-leap': 'opensuse',
  'opensuse-tumbleweed': 'opensuse',
  mariner: 'cbl-mariner',
}

/** `1:2.36.1-8` → `2.36.1-8`: purls carry the epoch as a qualifier, not in the version. */
function withoutEpoch(version: string): string {
  const colon = version.indexOf(':')
  return colon > 0 && /^\d+$/.test(version.slice(0, colon)) ? version.slice(colon + 1) : version
}

export function osPackagePurl(pkg: Package, os: OsInfo | undefined): string {
  const type = purlTypeOf(pkg)
  const epoch = pkg.epoch ? String(pkg.epoch) : undefined
  const version = withoutEpoch(pkg.version)
  switch (type) {
    case 'deb': {
      const ns = os?.family ?? 'debian'
      return makePurl('deb', ns, pkg.name, version, { arch: pkg.arch, epoch, distro: os ? `${os.family}-${os.version}` : undefined })
    }
    case 'apk':
      return makePurl('apk', os?.family ?? 'alpine', pkg.name, version, { arch: pkg.arch, distro: os?.version })
    case 'rpm': {
      const ns = os ? (RPM_NAMESPACE[os.family] ?? os.family) : undefined
      return makePurl('rpm', ns, pkg.name, version, {
        arch: pkg.arch,
        epoch,
        distro: os && ns ? `${os.family === 'sles' ? 'sles' : os.family}-${os.version}` : undefined,
        modularitylabel: pkg.modularityLabel,
      })
    }
    default:
      return pkg.purl
  }
}

function defaultEcosystem(pkg: Package): string {
  switch (purlTypeOf(pkg)) {
    case 'deb': return 'Debian'
    case 'apk': return 'Alpine'
    case 'rpm': return 'Red Hat'
    default: return pkg.ecosystem
  }
}

// usrmerge: /bin, /sbin and /lib* are symlinks into /usr, and package file lists may name either.
const MERGED_DIRS = ['bin/', 'sbin/', 'lib/', 'lib32/', 'lib64/', 'libx32/']

function isOwned(owned: ReadonlySet<string>, path: string): boolean {
  if (owned.has(path)) return true
  if (path.startsWith('usr/')) {
    const rest = path.slice(4)
    return MERGED_DIRS.some((d) => rest.startsWith(d)) && owned.has(rest)
  }
  return MERGED_DIRS.some((d) => path.startsWith(d)) && owned.has(`usr/${path}`)
}

export interface FinalizeOptions {
  /**
   * Keep language packages whose files an OS package owns (Debian's python3-*, ruby-*, node-*).
   * Off by default, as in Trivy: the distro's advisories cover them through the OS package, and
   * matching them against language feeds as well would report upstream ranges the distro has
   * backported. When on, they stay in the inventory marked `osOwned` and are matched like any
   * other language package.
   */
  includeOsOwned?: boolean
}

/**
 * Fills OS packages' `ecosystem` and `purl` from the detected OS, and marks language packages
 * whose `path` an OS package owns (dropping them unless `includeOsOwned`). Returns new package
 * objects; the inputs (which may be cached layer reports) are not changed.
 */
export function finalizeInventory(packages: readonly Package[], os: OsInfo | undefined, ownedFiles: Iterable<string>, options: FinalizeOptions = {}): Package[] {
  const owned: ReadonlySet<string> = ownedFiles instanceof Set ? (ownedFiles as Set<string>) : new Set(ownedFiles)
  const out: Package[] = []
  for (const pkg of packages) {
    if (pkg.kind === 'os') {
      out.push({ ...pkg, ecosystem: os?.ecosystem ?? defaultEcosystem(pkg), purl: osPackagePurl(pkg, os) })
    } else if (!isOwned(owned, pkg.path)) {
      out.push(pkg)
    } else if (options.includeOsOwned) {
      out.push({ ...pkg, osOwned: true })
    }
  }
  return out
}
