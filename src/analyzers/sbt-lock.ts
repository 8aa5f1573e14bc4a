import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, parseJson, str } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * `build.sbt.lock` (sbt-dependency-lock, JSON; not registered for images, see
 * lang/lockfiles.ts): each `dependencies[]` entry's `org:name` at `version`, except those locked
 * only for the `test` configuration.
 */
export const sbtLockAnalyzer: Analyzer = {
  name: 'sbt-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 8 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'build.sbt.lock'),
  parse(bytes, ctx) {
    const doc = parseJson(bytes, ctx.path)
    if (!isRecord(doc)) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: not an sbt lock object`)
    const out: Package[] = []
    for (const d of Array.isArray(doc.dependencies) ? doc.dependencies : []) {
      // Test-only dependencies are not part of what ships, and Trivy's parser drops them too.
      if (!isRecord(d) || (Array.isArray(d.configurations) && d.configurations.length > 0 && d.configurations.every((c) => c === 'test'))) continue
      const [org, name, version] = [str(d.org), str(d.name), str(d.version)]
      if (org && name && version) out.push(langPackage('Maven', `${org}:${name}`, version, ctx.path))
    }
    return { packages: dedupe(out) }
  },
}
