import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { baseName, dedupe, langPackage, str } from './lang/common.js'
import { parseToml, tables } from './lang/toml.js'

/**
 * PEP 751 lock files: `pylock.toml` and named `pylock.<name>.toml` (not registered for images,
 * see lang/lockfiles.ts). Every `[[packages]]` entry with a version; entries without one (a
 * VCS or directory install) name no release.
 */
export const pylockAnalyzer: Analyzer = {
  name: 'pylock',
  version: 1,
  kind: 'lang',
  maxBytes: 32 * 1024 * 1024,
  match(file: FileInfo) {
    if (!file.path.endsWith('.toml') || !file.path.includes('pylock.')) return false
    const base = baseName(file.path)
    return base === 'pylock.toml' || (base.startsWith('pylock.') && base.endsWith('.toml') && !base.slice(7, -5).includes('.'))
  },
  parse(bytes, ctx) {
    const doc = parseToml(bytes, ctx.path)
    if (typeof doc['lock-version'] !== 'string') throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: no lock-version`)
    const out: Package[] = []
    for (const p of tables(doc, 'packages')) {
      const name = str(p.name)
      const version = str(p.version)
      if (name && version) out.push(langPackage('PyPI', name, version, ctx.path))
    }
    return { packages: dedupe(out) }
  },
}
