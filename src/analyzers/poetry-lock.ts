import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, langPackage, str } from './lang/common.js'
import { isNamed } from './lang/names.js'
import { parseToml, tables } from './lang/toml.js'

/**
 * `poetry.lock` v1 and v2 (not registered for images, see lang/lockfiles.ts): every
 * `[[package]]` with its name and version. Dev groups are kept, as in Trivy's parser (which marks
 * them; Vigil's Package has no dev flag).
 */
export const poetryLockAnalyzer: Analyzer = {
  name: 'poetry-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 32 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'poetry.lock'),
  parse(bytes, ctx) {
    const out: Package[] = []
    for (const p of tables(parseToml(bytes, ctx.path), 'package')) {
      const name = str(p.name)
      const version = str(p.version)
      if (name && version) out.push(langPackage('PyPI', name, version, ctx.path))
    }
    return { packages: dedupe(out) }
  },
}
