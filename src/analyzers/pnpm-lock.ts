import { parseAllDocuments } from 'yaml'
import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, isRecord, langPackage, str, utf8 } from './lang/common.js'

/**
 * `pnpm-lock.yaml` v5 (`/name/1.0.0_peer`), v6 (`/name@1.0.0(peer)`) and v9 (`name@1.0.0(peer)`
 * under `packages`). Entries that carry their own `name`/`version` (tarballs, git, file:) use
 * those; keys whose version is not a plain version (file:, URLs) without one are left out. Not
 * registered for images (see lang/lockfiles.ts).
 */
export const pnpmLockAnalyzer: Analyzer = {
  name: 'pnpm-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 64 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return (file.path === 'pnpm-lock.yaml' || file.path.endsWith('/pnpm-lock.yaml')) && !file.path.includes('node_modules/')
  },
  parse(bytes, ctx) {
    let docs: unknown[]
    try {
      docs = parseAllDocuments(utf8(bytes)).map((d) => {
        if (d.errors.length > 0) throw d.errors[0]
        return d.toJS() as unknown
      })
    } catch (err) {
      throw new VigilError('ERR_PKGDB_CORRUPT', `${ctx.path}: not valid YAML`, { cause: err })
    }
    // pnpm 11 puts its own "env" lockfile (the package manager's packages) first; the project's
    // lockfile is the last document.
    const doc = docs.at(-1)
    const out: Package[] = []
    if (isRecord(doc) && isRecord(doc.packages)) {
      for (const [key, entry] of Object.entries(doc.packages)) {
        const e = isRecord(entry) ? entry : {}
        if (e.dev === true) continue // v5/v6 mark dev-only packages; Trivy leaves them out
        const id = pnpmPackageId(key, e)
        if (id) out.push(langPackage('npm', id.name, id.version, ctx.path))
      }
    }
    return { packages: dedupe(out) }
  },
}

const PLAIN_VERSION = /^\d+\.\d+\.\d+[0-9A-Za-z.+-]*$/

export function pnpmPackageId(key: string, entry: Record<string, unknown>): { name: string; version: string } | undefined {
  const parsed = parseKey(key)
  const version = str(entry.version) ?? parsed?.version
  const name = str(entry.name) ?? parsed?.name
  if (!name || !version || !PLAIN_VERSION.test(version)) return undefined
  return { name, version }
}

function parseKey(rawKey: string): { name: string; version: string } | undefined {
  const key = rawKey.replace(/\(.*$/, '')
  if (key.startsWith('/')) {
    const body = key.slice(1)
    const at = body.indexOf('@', 1)
    // v6 `/name@1.0.0`; v5 `/name/1.0.0_peer@2`.
    if (at > 0 && !body.slice(0, at).includes('/', body.startsWith('@') ? body.indexOf('/') + 1 : 0)) {
      return { name: body.slice(0, at), version: body.slice(at + 1) }
    }
    const slash = body.lastIndexOf('/')
    if (slash <= 0) return undefined
    return { name: body.slice(0, slash), version: body.slice(slash + 1).replace(/_.*$/, '') }
  }
  const at = key.indexOf('@', 1)
  return at > 0 ? { name: key.slice(0, at), version: key.slice(at + 1) } : undefined
}
