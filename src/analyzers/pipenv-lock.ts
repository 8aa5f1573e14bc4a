import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { isRecord, langPackage, parseJson, str } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * `Pipfile.lock` (not registered for images, see lang/lockfiles.ts): the `default` section, each
 * entry's `version` is `==x.y`. `develop` is left out, as Trivy's pipenv parser leaves it out.
 * Entries without a version (VCS or path installs) name no release and are skipped.
 */
export const pipenvLockAnalyzer: Analyzer = {
  name: 'pipenv-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 16 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'Pipfile.lock'),
  parse(bytes, ctx) {
    const doc = parseJson(bytes, ctx.path)
    if (!isRecord(doc) || !isRecord(doc.default)) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: no "default" section`)
    const out: Package[] = []
    for (const [name, entry] of Object.entries(doc.default)) {
      const version = isRecord(entry) ? str(entry.version)?.replace(/^===?/, '') : undefined
      if (version) out.push(langPackage('PyPI', name, version, ctx.path))
    }
    return { packages: out }
  },
}
