import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, parseJson, str } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * SwiftPM `Package.resolved` v1 (`object.pins[].repositoryURL`) and v2/v3 (`pins[].location`);
 * not registered for images. A package is named by its repository URL without scheme and `.git`
 * (`github.com/apple/swift-nio`), which is how OSV's SwiftURL ecosystem and Trivy name it. Pins
 * on a bare revision, or a branch not named like a version, are skipped.
 */
export const swiftResolvedAnalyzer: Analyzer = {
  name: 'swift-resolved',
  version: 1,
  kind: 'lang',
  maxBytes: 4 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'Package.resolved'),
  parse(bytes, ctx) {
    const doc = parseJson(bytes, ctx.path)
    if (!isRecord(doc)) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: not a Package.resolved object`)
    const pins = Number(doc.version) === 1 ? (isRecord(doc.object) ? doc.object.pins : undefined) : doc.pins
    const out: Package[] = []
    for (const pin of Array.isArray(pins) ? pins : []) {
      if (!isRecord(pin)) continue
      const url = str(pin.repositoryURL) ?? str(pin.location)
      const state = isRecord(pin.state) ? pin.state : {}
      // A pin on a branch named like a release (`0.0.1`) is taken at that name, as Trivy takes
      // it; `main` and bare revisions name nothing a feed could list.
      const branch = str(state.branch)
      const version = str(state.version) ?? (branch && /^v?\d/.test(branch) ? branch : undefined)
      if (url && version) out.push(langPackage('SwiftURL', swiftName(url), version, ctx.path))
    }
    return { packages: dedupe(out) }
  },
}

/** `https://github.com/apple/swift-nio.git` / `git@github.com:apple/swift-nio.git` → `github.com/apple/swift-nio`. */
export function swiftName(url: string): string {
  return url
    .replace(/^[a-z+]+:\/\//i, '')
    .replace(/^[^@/]+@([^:/]+):/, '$1/')
    .replace(/^[^@/]+@/, '')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '')
}
