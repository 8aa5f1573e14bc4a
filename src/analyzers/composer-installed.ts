import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { isRecord, langPackage, parseJson, str } from './lang/common.js'

/**
 * Composer's record of what is installed: `vendor/composer/installed.json`, an array (Composer 1)
 * or `{ packages: [...] }` (Composer 2). composer.lock is not read in images (see the docs): the
 * installed list is what is on disk, and it excludes dev packages a `--no-dev` install skipped.
 */
export const composerInstalledAnalyzer: Analyzer = {
  name: 'composer-installed',
  version: 1,
  kind: 'lang',
  maxBytes: 32 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return file.path.endsWith('composer/installed.json') && (file.path === 'vendor/composer/installed.json' || file.path.endsWith('/composer/installed.json'))
  },
  parse(bytes, ctx) {
    const doc = parseJson(bytes, ctx.path)
    const list = Array.isArray(doc) ? doc : isRecord(doc) ? doc.packages : undefined
    if (!Array.isArray(list)) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: no package list`)
    return { packages: composerPackages(list, ctx.path) }
  },
}

/** Shared with composer.lock: `packages` entries with name and version. */
export function composerPackages(list: unknown[], path: string): Package[] {
  const out: Package[] = []
  for (const p of list) {
    if (!isRecord(p)) continue
    const name = str(p.name)
    const version = str(p.version)
    if (name && version) out.push(langPackage('Packagist', name, version, path))
  }
  return out
}

/** composer.lock (not registered for images; used by filesystem-style callers and tests). */
export function parseComposerLock(bytes: Uint8Array, path: string): Package[] {
  const doc = parseJson(bytes, path)
  if (!isRecord(doc) || !Array.isArray(doc.packages)) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: no packages array`)
  // Trivy's parser keeps packages-dev too (marked dev); Vigil has no dev flag, so they are listed.
  const dev = Array.isArray(doc['packages-dev']) ? doc['packages-dev'] : []
  return composerPackages([...doc.packages, ...dev], path)
}
