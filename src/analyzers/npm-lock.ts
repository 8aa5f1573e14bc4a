import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, parseJson, str } from './lang/common.js'

/**
 * `package-lock.json` v1 (nested `dependencies`) and v2/v3 (flat `packages` keyed by install
 * path). Not registered for images (see lang/lockfiles.ts); dev dependencies are included, as
 * in Trivy's parser.
 */
export const npmLockAnalyzer: Analyzer = {
  name: 'npm-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 64 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return (file.path === 'package-lock.json' || file.path.endsWith('/package-lock.json')) && !file.path.includes('node_modules/')
  },
  parse(bytes, ctx) {
    const doc = parseJson(bytes, ctx.path)
    if (!isRecord(doc)) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: not a lockfile object`)
    const out: Package[] = []
    if (isRecord(doc.packages)) fromPackages(doc.packages, ctx.path, out)
    else if (isRecord(doc.dependencies)) fromDependencies(doc.dependencies, ctx.path, out, 0)
    return { packages: dedupe(out) }
  },
}

const NM = 'node_modules/'

/** v2/v3: only entries installed under node_modules; links take the version of their target. */
function fromPackages(packages: Record<string, unknown>, path: string, out: Package[]): void {
  for (const [key, entry] of Object.entries(packages)) {
    if (key === '' || !isRecord(entry) || !key.includes(NM)) continue
    const folderName = nameFromInstallPath(key)
    if (entry.link === true) {
      const target = typeof entry.resolved === 'string' && entry.resolved !== '' ? packages[entry.resolved] : undefined
      if (!isRecord(target)) continue
      out.push(langPackage('npm', folderName, str(target.version) ?? '', path))
      continue
    }
    const version = str(entry.version)
    if (!version) continue
    out.push(langPackage('npm', str(entry.name) ?? folderName, version, path))
  }
}

/** `a/node_modules/@s/b` → `@s/b`. */
export function nameFromInstallPath(key: string): string {
  const i = key.lastIndexOf(NM)
  return i < 0 ? key : key.slice(i + NM.length)
}

const MAX_DEPTH = 256

function fromDependencies(deps: Record<string, unknown>, path: string, out: Package[], depth: number): void {
  if (depth > MAX_DEPTH) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: dependencies nested deeper than ${MAX_DEPTH}`)
  for (const [name, dep] of Object.entries(deps)) {
    if (!isRecord(dep)) continue
    const version = str(dep.version)
    // `file:` / `link:` versions point into the project, not at a published package.
    if (version && !/^(file|link):/.test(version)) out.push(langPackage('npm', nameFromInstallPath(name), aliasVersion(version), path))
    if (isRecord(dep.dependencies)) fromDependencies(dep.dependencies, path, out, depth + 1)
  }
}

// `npm:real-name@1.2.3` aliases in v1 locks carry the real version after the last `@`.
function aliasVersion(version: string): string {
  return version.startsWith('npm:') ? version.slice(version.lastIndexOf('@') + 1) : version
}
