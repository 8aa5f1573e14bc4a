import { parse } from 'yaml'
import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, str, utf8 } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * Dart / Flutter `pubspec.lock` (not registered for images): every entry of `packages` at its
 * `version`. SDK packages (`source: sdk`, e.g. flutter_test) are written as 0.0.0; with
 * `useMinVersion` (Trivy's option of the same meaning) they take the lowest Flutter version the
 * `sdks.flutter` constraint allows.
 */
export const pubspecLockAnalyzer: Analyzer = {
  name: 'pubspec-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 8 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'pubspec.lock'),
  parse: (bytes, ctx) => ({ packages: parsePubspecLock(utf8(bytes), ctx.path) }),
}

export function parsePubspecLock(text: string, path: string, opts: { useMinVersion?: boolean } = {}): Package[] {
  let doc: unknown
  try {
    doc = parse(text)
  } catch (err) {
    throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: not valid YAML`, { cause: err })
  }
  if (doc === null || doc === undefined) return []
  if (!isRecord(doc)) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: not a pubspec.lock mapping`)
  const flutter = isRecord(doc.sdks) ? str(doc.sdks.flutter) : undefined
  const flutterMin = flutter ? /(\d+\.\d+\.\d+[^\s<]*)/.exec(flutter)?.[1] : undefined
  const out: Package[] = []
  for (const [name, entry] of Object.entries(isRecord(doc.packages) ? doc.packages : {})) {
    if (!isRecord(entry)) continue
    let version = str(entry.version)
    if (opts.useMinVersion && entry.source === 'sdk' && entry.description === 'flutter' && flutterMin) version = flutterMin
    if (version) out.push(langPackage('Pub', name, version, path))
  }
  return dedupe(out)
}
