import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, parseJson } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * `conan.lock` (not registered for images, see lang/lockfiles.ts). Conan 1 writes a
 * `graph_lock.nodes` map whose `ref`s are the packages (the node without a ref is the consumer
 * conanfile); Conan 2 writes `requires` (build tools in `build_requires` are left out, as Trivy
 * leaves them out). A reference is `name/version[@user/channel][#revision[%timestamp]]`.
 */
export const conanLockAnalyzer: Analyzer = {
  name: 'conan-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 16 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'conan.lock'),
  parse(bytes, ctx) {
    const doc = parseJson(bytes, ctx.path)
    if (!isRecord(doc)) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: not a conan lock object`)
    const refs: unknown[] = []
    if (isRecord(doc.graph_lock) && isRecord(doc.graph_lock.nodes)) {
      for (const node of Object.values(doc.graph_lock.nodes)) if (isRecord(node)) refs.push(node.ref)
    } else if (Array.isArray(doc.requires)) refs.push(...doc.requires)
    else throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: neither graph_lock.nodes (Conan 1) nor requires (Conan 2)`)
    const out: Package[] = []
    for (const ref of refs) {
      if (typeof ref !== 'string') continue
      const m = /^([^/@#%\s]+)\/([^@#%\s]+)/.exec(ref)
      if (m) out.push(langPackage('ConanCenter', m[1]!, m[2]!, ctx.path))
    }
    return { packages: dedupe(out) }
  },
}
