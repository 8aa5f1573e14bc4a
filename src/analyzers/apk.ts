import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, AnalyzerResult, FileInfo } from './types.js'

/**
 * Alpine's installed database (`lib/apk/db/installed`): one `X:value` line per field, a blank
 * line between packages. Read: P name, V version, A arch, L license, o origin (the source
 * package Alpine's advisories are keyed by), F directory and R file (owned files).
 */

const DB_PATHS = new Set(['lib/apk/db/installed', 'usr/lib/apk/db/installed'])

interface Stanza {
  name?: string
  version?: string
  arch?: string
  license?: string
  origin?: string
}

const utf8 = new TextDecoder('utf-8')

function toPackage(s: Stanza, path: string): Package | undefined {
  // A stanza without name or version (a truncated tail, a stray line) names no package.
  if (!s.name || !s.version) return undefined
  return {
    ecosystem: '',
    name: s.name,
    version: s.version,
    // apk packages built from the same APKBUILD share an origin; a package is its own origin otherwise.
    source: { name: s.origin || s.name, version: s.version },
    ...(s.arch ? { arch: s.arch } : {}),
    ...(s.license ? { licenses: [s.license] } : {}),
    purl: '',
    path,
    kind: 'os',
  }
}

export function parseApkInstalled(bytes: Uint8Array, path: string): AnalyzerResult {
  if (bytes.includes(0)) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: binary data in the apk database`)
  const packages: Package[] = []
  const ownedFiles: string[] = []
  let stanza: Stanza = {}
  let dir = ''
  let badLines = 0
  const flush = (): void => {
    const pkg = toPackage(stanza, path)
    if (pkg) packages.push(pkg)
    stanza = {}
    dir = ''
  }
  for (const line of utf8.decode(bytes).split('\n')) {
    if (line === '' || line === '\r') {
      flush()
      continue
    }
    if (line.charCodeAt(1) !== 58 /* ':' */) {
      badLines++
      continue
    }
    const value = line.slice(2)
    switch (line[0]) {
      case 'P':
        // A second P: without a blank line means the separator was lost; keep both packages.
        if (stanza.name !== undefined) flush()
        stanza.name = value
        break
      case 'V': stanza.version = value; break
      case 'A': stanza.arch = value; break
      case 'L': stanza.license = value; break
      case 'o': stanza.origin = value; break
      case 'F': dir = value; break
      case 'R': ownedFiles.push(dir ? `${dir}/${value}` : value); break
    }
  }
  flush()
  if (badLines > 0 && packages.length === 0) {
    throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: ${badLines} lines that are not apk database fields and no packages`)
  }
  return { packages, ownedFiles }
}

export const apkAnalyzer: Analyzer = {
  name: 'apk',
  version: 1,
  kind: 'os',
  maxBytes: 64 * 1024 * 1024,
  match: (file: FileInfo) => DB_PATHS.has(file.path),
  parse: (bytes, ctx) => parseApkInstalled(bytes, ctx.path),
}
