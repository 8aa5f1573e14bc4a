import { VigilError } from '../errors.js'
import type { Analyzer, FileInfo } from './types.js'
import { isRecord, langPackage, parseJson, str } from './lang/common.js'

/**
 * npm packages as installed: the `package.json` at the root of each package folder under
 * `node_modules/` (nested copies, pnpm's `.pnpm` store and yarn's unplugged folders included),
 * plus project and workspace roots outside node_modules, as Trivy does in images. A package.json
 * deeper inside a package (`rxjs/ajax/package.json`, a subpath-export helper) is not a package.
 * Lockfiles are not read in images: see docs/analyzers-lang.md.
 */
export const npmPackageAnalyzer: Analyzer = {
  name: 'npm-package',
  version: 1,
  kind: 'lang',
  maxBytes: 4 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return isPackageJsonRoot(file.path)
  },
  parse(bytes, ctx) {
    const doc = parseJson(bytes, ctx.path)
    const pkg = packageJsonIdentity(doc)
    if (pkg && !NPM_NAME_RE.test(pkg.name)) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: not an npm package name: ${pkg.name}`)
    return { packages: pkg ? [langPackage('npm', pkg.name, pkg.version, ctx.path)] : [] }
  },
}

/** name and version of a package.json, or undefined when either is missing (not a publishable package). */
export function packageJsonIdentity(doc: unknown): { name: string; version: string } | undefined {
  if (!isRecord(doc)) return undefined
  const name = str(doc.name)
  const version = str(doc.version)
  return name && version ? { name, version } : undefined
}

// URL-safe characters, optional scope; upper case stays allowed for pre-2017 names (JSONStream).
const NPM_NAME_RE = /^(?:@[A-Za-z0-9._~*-]+\/)?[A-Za-z0-9._~*-]+$/

const NM = 'node_modules/'
const PJ = '/package.json'

/** Allocation-free: index arithmetic only, this runs for every file of every layer. */
export function isPackageJsonRoot(path: string): boolean {
  if (path !== 'package.json' && !path.endsWith(PJ)) return false
  const nm = path.lastIndexOf(NM)
  if (nm < 0 || (nm > 0 && path.charCodeAt(nm - 1) !== 0x2f)) return true
  const start = nm + NM.length
  const end = path.length - PJ.length
  if (end <= start) return false
  const slash = path.indexOf('/', start)
  if (slash < 0 || slash >= end) return path.charCodeAt(start) !== 0x40 // `@scope/package.json` is no package
  // Scoped packages have exactly one more segment.
  return path.charCodeAt(start) === 0x40 && path.indexOf('/', slash + 1) >= end
}
