import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, parseJson, str } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * `packages.lock.json` (NuGet lock; not registered for images: published .NET apps carry
 * `*.deps.json`, read by dotnet-deps). Every target framework's packages, each once; `Project`
 * entries are other projects of the same solution, not NuGet packages.
 */
export const nugetLockAnalyzer: Analyzer = {
  name: 'nuget-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 16 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'packages.lock.json'),
  parse(bytes, ctx) {
    const doc = parseJson(bytes, ctx.path)
    if (!isRecord(doc) || !isRecord(doc.dependencies)) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: no "dependencies" object`)
    const out: Package[] = []
    for (const framework of Object.values(doc.dependencies)) {
      if (!isRecord(framework)) continue
      for (const [name, entry] of Object.entries(framework)) {
        if (!isRecord(entry) || entry.type === 'Project') continue
        const version = str(entry.resolved)
        if (version) out.push(langPackage('NuGet', name, version, ctx.path))
      }
    }
    return { packages: dedupe(out) }
  },
}
