import { VigilError } from '../../errors.js'
import { makePurl } from '../../sbom/purl.js'
import type { LanguageEcosystem, Package } from '../../types.js'

/** purl type per OSV ecosystem (purl spec type names). */
const PURL_TYPE: Record<LanguageEcosystem, string> = {
  npm: 'npm',
  PyPI: 'pypi',
  Go: 'golang',
  Maven: 'maven',
  'crates.io': 'cargo',
  RubyGems: 'gem',
  Packagist: 'composer',
  NuGet: 'nuget',
  ConanCenter: 'conan',
  Pub: 'pub',
  Hex: 'hex',
  SwiftURL: 'swift',
  CocoaPods: 'cocoapods',
}

/**
 * Splits a package name into purl namespace and name where the ecosystem has one: npm scopes
 * (`@babel/core`), Go module paths and Swift repository names (`github.com/a/b` →
 * `github.com/a` + `b`), Maven
 * `groupId:artifactId`, Composer `vendor/name`.
 */
function purlParts(ecosystem: LanguageEcosystem, name: string): [string | undefined, string] {
  switch (ecosystem) {
    case 'npm':
    case 'Go':
    case 'Packagist':
    case 'SwiftURL': {
      const slash = name.lastIndexOf('/')
      return slash > 0 ? [name.slice(0, slash), name.slice(slash + 1)] : [undefined, name]
    }
    case 'Maven': {
      const colon = name.indexOf(':')
      return colon > 0 ? [name.slice(0, colon), name.slice(colon + 1)] : [undefined, name]
    }
    default:
      return [undefined, name]
  }
}

export function langPackage(ecosystem: LanguageEcosystem, name: string, version: string, path: string): Package {
  const [namespace, short] = purlParts(ecosystem, name)
  let purl: string
  try {
    purl = makePurl(PURL_TYPE[ecosystem], namespace, short, version)
  } catch (err) {
    // packageurl-js rejects some names and versions (a golang `v` version that is not semver) and,
    // in 2.0.1, does so with a ReferenceError from its own validator: either way the input is bad.
    throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: no valid purl for ${ecosystem} ${name}@${version}`, { cause: err })
  }
  return { kind: 'lang', ecosystem, name, version, purl, path }
}

const decoder = new TextDecoder('utf-8', { fatal: false })
export function utf8(bytes: Uint8Array): string {
  return decoder.decode(bytes)
}

/** JSON.parse that turns a syntax error into the catalogue's corrupt-database error. */
export function parseJson(bytes: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(utf8(bytes).replace(/^\uFEFF/, ''))
  } catch (err) {
    throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: not valid JSON`, { cause: err })
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}

/** `a/b/c` → `c`, without allocating when the caller only needs a suffix test. */
export function baseName(path: string): string {
  const slash = path.lastIndexOf('/')
  return slash < 0 ? path : path.slice(slash + 1)
}

/** Drops repeated name@version pairs, keeping the first (a fat jar can shade one library twice). */
export function dedupe(packages: Package[]): Package[] {
  const seen = new Set<string>()
  return packages.filter((p) => {
    const key = `${p.name}\0${p.version}\0${p.path}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}
