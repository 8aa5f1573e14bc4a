import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, str } from './lang/common.js'
import { isNamed } from './lang/names.js'
import { parseToml, tables } from './lang/toml.js'

/**
 * `uv.lock` (not registered for images, see lang/lockfiles.ts): every `[[package]]`, the project
 * itself included (its `source` is `{ virtual = "." }` or `{ editable = "." }`). A lock without
 * exactly one such root is rejected, as Trivy rejects it: uv always writes one.
 */
export const uvLockAnalyzer: Analyzer = {
  name: 'uv-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 32 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'uv.lock'),
  parse(bytes, ctx) {
    const list = tables(parseToml(bytes, ctx.path), 'package')
    const roots = list.filter((p) => isRecord(p.source) && (p.source.virtual === '.' || p.source.editable === '.'))
    if (roots.length !== 1) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: uv lockfile must contain 1 root package, found ${roots.length}`)
    const out: Package[] = []
    for (const p of list) {
      const name = str(p.name)
      const version = str(p.version)
      if (name && version) out.push(langPackage('PyPI', name, version, ctx.path))
    }
    return { packages: dedupe(out) }
  },
}
