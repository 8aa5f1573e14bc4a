import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { isRecord, langPackage, parseJson } from './lang/common.js'

const LIBRARY_TYPES = new Set(['package', 'project', 'runtimepack'])

/**
 * .NET `*.deps.json`: the libraries an app was published with. Like Trivy, a library whose entry
 * under the runtime target has no runtime, native or runtimeTargets assets is compile-time only
 * and is left out; when the runtime target is missing every library counts.
 */
export const dotnetDepsAnalyzer: Analyzer = {
  name: 'dotnet-deps',
  version: 1,
  kind: 'lang',
  maxBytes: 16 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return file.path.endsWith('.deps.json')
  },
  parse(bytes, ctx) {
    const doc = parseJson(bytes, ctx.path)
    if (!isRecord(doc) || !isRecord(doc.libraries)) return { packages: [] }
    const runtimeName = isRecord(doc.runtimeTarget) ? doc.runtimeTarget.name : undefined
    const target = typeof runtimeName === 'string' && isRecord(doc.targets) ? doc.targets[runtimeName] : undefined
    const packages: Package[] = []
    for (const [key, lib] of Object.entries(doc.libraries)) {
      if (!isRecord(lib) || typeof lib.type !== 'string' || !LIBRARY_TYPES.has(lib.type.toLowerCase())) continue
      const slash = key.indexOf('/')
      if (slash <= 0 || slash === key.length - 1) continue
      if (isRecord(target)) {
        const entry = target[key]
        if (isRecord(entry) && !hasAssets(entry)) continue
      }
      // Self-contained apps list the bundled runtime as `runtimepack.<NuGet id>`.
      const name = key.slice(0, slash).replace(/^runtimepack\./, '')
      packages.push(langPackage('NuGet', name, key.slice(slash + 1), ctx.path))
    }
    return { packages }
  },
}

function hasAssets(entry: Record<string, unknown>): boolean {
  return ['runtime', 'runtimeTargets', 'native'].some((k) => isRecord(entry[k]) && Object.keys(entry[k]).length > 0)
}
