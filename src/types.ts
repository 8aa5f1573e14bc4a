/**
 * The inventory model: what analyzers emit and every later stage (SBOM output, matching, the
 * index, the daemon) reads. Field meanings are DESIGN.md's "The inventory".
 */

declare const brand: unique symbol
type Brand<T, B extends string> = T & { readonly [brand]: B }

/** `sha256:<64 hex>`: a manifest, config or layer digest. */
export type Digest = Brand<string, 'Digest'>

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value)
}
export function asDigest(value: string): Digest {
  if (!isDigest(value)) throw new TypeError(`not a sha256 digest: ${value}`)
  return value
}

/**
 * OSV ecosystem names. OS ecosystems carry their release (`Debian:12`, `Alpine:v3.19`,
 * `Ubuntu:22.04`, `Red Hat`, …); language ones are fixed strings.
 */
export type LanguageEcosystem = 'npm' | 'PyPI' | 'Go' | 'Maven' | 'crates.io' | 'RubyGems' | 'Packagist' | 'NuGet'
  | 'ConanCenter' | 'Pub' | 'Hex' | 'SwiftURL' | 'CocoaPods'
export type Ecosystem = LanguageEcosystem | (string & {})

export type PackageKind = 'os' | 'lang'

export interface SourcePackage {
  readonly name: string
  readonly version?: string
}

export interface Package {
  ecosystem: Ecosystem
  name: string
  version: string
  /** Debian source package, Alpine origin, rpm source rpm. */
  source?: SourcePackage
  arch?: string
  purl: string
  /** Digest of the layer that introduced the package at this version. */
  layer?: Digest
  /** Where the package was found (the database or manifest path, no leading slash). */
  path: string
  /** A language package whose files an OS package owns. */
  osOwned?: boolean
  kind: PackageKind
  /** Extra facts that some outputs use (epoch, release, licenses, modularity label, ...). */
  epoch?: number
  release?: string
  licenses?: string[]
  modularityLabel?: string
  /** Paths of files the package owns (OS packages only; used to mark osOwned language packages). */
  files?: string[]
}

export interface OsInfo {
  /** `debian`, `alpine`, `ubuntu`, `rhel`, `centos`, `rocky`, `almalinux`, `fedora`, `sles`, `opensuse-leap`, `amzn`, `mariner`, `wolfi`, `chainguard`, ... */
  family: string
  /** VERSION_ID as written (`12`, `3.19.1`, `22.04`). */
  version: string
  prettyName?: string
  /** The OSV ecosystem for this OS's packages, e.g. `Debian:12`, `Alpine:v3.19`. */
  ecosystem: Ecosystem
  /** The vendor's end-of-life date for this release (`YYYY-MM-DD`, src/sbom/eol.ts), when known. */
  endOfLife?: string
}

export interface ImageInfo {
  /** The name the user gave. */
  reference: string
  /** Manifest digest (the image's identity). */
  digest: Digest
  /** Config digest (Docker's image id). */
  configDigest?: Digest
  platform: string
  layers: Digest[]
  /** Uncompressed layer digests, from the config. */
  diffIds?: Digest[]
  repoTags?: string[]
}

export interface Inventory {
  /** Schema version of this record. */
  v: 1
  image: ImageInfo
  os?: OsInfo
  packages: Package[]
  /** Analyzer-set version the inventory was made with. */
  analyzerSet: string
  createdAt: string
  /**
   * Content that was seen but not read (a limit, a corrupt entry, an unsafe path): the packages are
   * what could be read, so a scan with warnings may be incomplete. Absent when there are none.
   */
  warnings?: InventoryWarning[]
}

/** One thing a scan skipped: a catalogue code (src/errors.ts), what happened, and where. */
export interface InventoryWarning {
  code: string
  message: string
  /** The file in the image it concerns. */
  path?: string
  /** The layer that held it. */
  layer?: string
}
