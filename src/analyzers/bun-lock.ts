import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, str, utf8 } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * Bun's text lockfile `bun.lock` (JSON with trailing commas; not registered for images, see
 * lang/lockfiles.ts). Each `packages` value is `["name@version", registry, info, integrity]`;
 * `name@workspace:path` entries take the version of that workspace. Git, file and link sources
 * name no registry release and are skipped. Dev packages are kept, as in Trivy's parser.
 */
export const bunLockAnalyzer: Analyzer = {
  name: 'bun-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 64 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'bun.lock') && !file.path.includes('node_modules/'),
  parse(bytes, ctx) {
    let doc: unknown
    try {
      doc = JSON.parse(stripJsonc(utf8(bytes)))
    } catch (err) {
      throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: not valid JSONC`, { cause: err })
    }
    if (!isRecord(doc) || !isRecord(doc.packages)) throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: no "packages" object`)
    const workspaces = isRecord(doc.workspaces) ? doc.workspaces : {}
    const out: Package[] = []
    for (const value of Object.values(doc.packages)) {
      const spec = Array.isArray(value) ? str(value[0]) : undefined
      const at = spec ? spec.lastIndexOf('@') : -1
      if (!spec || at <= 0) continue
      const name = spec.slice(0, at)
      let version = spec.slice(at + 1)
      if (version.startsWith('workspace:')) {
        const ws = workspaces[version.slice('workspace:'.length)]
        version = isRecord(ws) ? (str(ws.version) ?? '') : ''
      }
      if (version && !version.includes(':') && !version.includes('/')) out.push(langPackage('npm', name, version, ctx.path))
    }
    return { packages: dedupe(out) }
  },
}

/**
 * JSONC → JSON: drops `//` and `/* *\/` comments and commas before `}` / `]`, outside strings.
 * Hand-written: a single character scan; a JSON5 dependency would accept far more than bun writes.
 */
export function stripJsonc(text: string): string {
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === '"') {
      let j = i + 1
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      out += text.slice(i, j + 1)
      i = j + 1
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2)
      i = end < 0 ? text.length : end + 2
    } else if (c === ',') {
      let j = i + 1
      while (j < text.length && /\s/.test(text[j]!)) j++
      if (text[j] !== '}' && text[j] !== ']') out += c
      i++
    } else {
      out += c
      i++
    }
  }
  return out
}
