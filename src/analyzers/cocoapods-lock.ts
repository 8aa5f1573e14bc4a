import { parse } from 'yaml'
import { VigilError } from '../errors.js'
import { makePurl } from '../sbom/purl.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, utf8 } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * `Podfile.lock` (not registered for images): each `PODS` entry `Name (version)`, either a plain
 * string or a map key whose value lists its dependencies. A subspec keeps its full name
 * (`AppCenter/Analytics`, as Trivy names it) and its purl carries the subspec as subpath
 * (`pkg:cocoapods/AppCenter@4.2.0#Analytics`, per the purl spec).
 */
export const cocoapodsLockAnalyzer: Analyzer = {
  name: 'cocoapods-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 8 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'Podfile.lock'),
  parse(bytes, ctx) {
    let doc: unknown
    try {
      doc = parse(utf8(bytes))
    } catch (err) {
      throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: not valid YAML`, { cause: err })
    }
    if (!isRecord(doc) || !Array.isArray(doc.PODS)) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: no PODS list`)
    const out: Package[] = []
    for (const entry of doc.PODS) {
      const spec = typeof entry === 'string' ? entry : isRecord(entry) ? Object.keys(entry)[0] : undefined
      const m = spec ? /^(\S+)\s+\(([^)]+)\)$/.exec(spec.trim()) : null
      if (m) out.push(podPackage(m[1]!, m[2]!, ctx.path))
    }
    return { packages: dedupe(out) }
  },
}

function podPackage(name: string, version: string, path: string): Package {
  const slash = name.indexOf('/')
  if (slash < 0) return langPackage('CocoaPods', name, version, path)
  const pkg = langPackage('CocoaPods', name.slice(0, slash), version, path)
  return { ...pkg, name, purl: makePurl('cocoapods', undefined, name.slice(0, slash), version, undefined, name.slice(slash + 1)) }
}
