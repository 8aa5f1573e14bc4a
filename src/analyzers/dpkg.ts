import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, AnalyzerResult, FileInfo } from './types.js'

/**
 * dpkg's status database: `var/lib/dpkg/status` (one file, a stanza per package) and the
 * distroless layout `var/lib/dpkg/status.d/<package>` (one file per package, usually without a
 * `Status:` field, because the image was assembled from .deb control files without dpkg).
 */

const STATUS_FILE = 'var/lib/dpkg/status'
const STATUS_DIR = 'var/lib/dpkg/status.d/'
// Control-area files that distroless tools copy next to the stanzas; they hold no stanza.
const CONTROL_SUFFIXES = ['.md5sums', '.preinst', '.postinst', '.prerm', '.postrm', '.conffiles', '.list', '.shlibs', '.symbols', '.triggers', '.templates', '.config']

export function isStatusDirStanza(path: string): boolean {
  if (!path.startsWith(STATUS_DIR)) return false
  const base = path.slice(STATUS_DIR.length)
  return base !== '' && !base.includes('/') && !CONTROL_SUFFIXES.some((s) => base.endsWith(s))
}

/** `1:5.1.1-12ubuntu1` → epoch 1; none (or a malformed prefix) → undefined. */
export function dpkgEpoch(version: string): number | undefined {
  const colon = version.indexOf(':')
  if (colon <= 0) return undefined
  const epoch = Number(version.slice(0, colon))
  return Number.isInteger(epoch) && epoch > 0 ? epoch : undefined
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}
function isAlnum(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
}

/**
 * Debian policy 5.6.12: `[epoch:]upstream[-revision]`, epoch digits, upstream starting with a
 * digit, upstream in [A-Za-z0-9.+~-], revision in [A-Za-z0-9.+~]. A stanza whose version breaks
 * this cannot be compared with any advisory, so it is dropped (Trivy does the same).
 */
export function isValidDpkgVersion(version: string): boolean {
  const colon = version.indexOf(':')
  if (colon === 0) return false
  for (let i = 0; i < colon; i++) if (!isDigit(version.charCodeAt(i))) return false
  const rest = version.slice(colon + 1)
  const dash = rest.lastIndexOf('-')
  const upstream = dash < 0 ? rest : rest.slice(0, dash)
  if (upstream === '' || !isDigit(upstream.charCodeAt(0))) return false
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i)
    const inRevision = dash >= 0 && i > dash
    // '.' 46, '+' 43, '~' 126, '-' 45 (upstream only, and only when a revision follows)
    if (!isAlnum(c) && c !== 46 && c !== 43 && c !== 126 && !(c === 45 && !inRevision)) return false
  }
  return dash < 0 || dash < rest.length - 1
}

/** `gcc-5 (5.1.1-12ubuntu1)` → name and version; `pam` → name only. */
export function parseSourceField(value: string): { name: string; version?: string } {
  const open = value.indexOf('(')
  if (open < 0) return { name: value.trim() }
  const close = value.indexOf(')', open)
  const version = value.slice(open + 1, close < 0 ? undefined : close).trim()
  return { name: value.slice(0, open).trim(), ...(version ? { version } : {}) }
}

interface Fields {
  Package?: string
  Status?: string
  Version?: string
  Architecture?: string
  Source?: string
}
const WANTED: ReadonlyArray<keyof Fields> = ['Package', 'Status', 'Version', 'Architecture', 'Source']

/** `Status: <want> <error> <state>`: only the `installed` state has its files on disk and configured. */
function isInstalled(status: string | undefined): boolean {
  if (status === undefined) return true // distroless stanzas carry no Status
  const words = status.split(' ').filter(Boolean)
  return words.length === 3 && words[2] === 'installed'
}

function toPackage(f: Fields, path: string): Package | undefined {
  // dpkg-query rejects a stanza without Version; so do we, and keep the rest of the file.
  if (!f.Package || !f.Version || !isInstalled(f.Status) || !isValidDpkgVersion(f.Version)) return undefined
  const epoch = dpkgEpoch(f.Version)
  const src = f.Source ? parseSourceField(f.Source) : undefined
  return {
    ecosystem: '',
    name: f.Package,
    version: f.Version,
    ...(epoch !== undefined ? { epoch } : {}),
    // Debian advisories are keyed by source package; a package without Source: is its own source.
    source: { name: src?.name || f.Package, version: src?.version ?? f.Version },
    ...(f.Architecture ? { arch: f.Architecture } : {}),
    purl: '',
    path,
    kind: 'os',
  }
}

const utf8 = new TextDecoder('utf-8')
const encoder = new TextEncoder()
const KEYS = WANTED.map((k) => [k, encoder.encode(k)] as const)

function isSpace(c: number | undefined): boolean {
  return c === 32 || c === 9 || c === 13
}

/** The wanted field whose name is bytes[start, colon), if any; compared as bytes to skip decoding. */
function wantedKey(bytes: Uint8Array, start: number, colon: number): keyof Fields | undefined {
  const len = colon - start
  for (const [name, key] of KEYS) {
    if (key.length !== len) continue
    let i = 0
    while (i < len && bytes[start + i] === key[i]) i++
    if (i === len) return name
  }
  return undefined
}

/**
 * Works on the bytes, not a decoded string: a status file is mostly multi-line Description and
 * Conffiles text we never read, so lines are skipped by their first byte and only the values of
 * the five wanted fields are decoded. A stanza holding a NUL byte (binary data: damage, or an
 * attempt to hide the file) is left out and named in `warnings`; the other stanzas still count.
 */
export function parseDpkgStatus(bytes: Uint8Array, path: string): AnalyzerResult {
  const packages: Package[] = []
  let fields: Fields = {}
  let fieldCount = 0
  let badLines = 0
  let nul = bytes.indexOf(0)
  let stanzaStart = 0
  const binary: string[] = []
  const flush = (stanzaEnd: number): void => {
    if (nul >= 0 && nul < stanzaEnd) {
      binary.push(fields.Package?.slice(0, 100) ?? `at byte ${stanzaStart}`)
      nul = bytes.indexOf(0, stanzaEnd)
    } else {
      const pkg = toPackage(fields, path)
      if (pkg) packages.push(pkg)
    }
    fields = {}
    stanzaStart = stanzaEnd
  }
  const n = bytes.length
  for (let pos = 0; pos < n; ) {
    let end = bytes.indexOf(10, pos)
    if (end < 0) end = n
    const first = bytes[pos]
    if (isSpace(first) || first === 10) {
      // A continuation line, or (only whitespace) a stanza separator.
      let i = pos
      while (i < end && isSpace(bytes[i])) i++
      if (i === end) flush(end)
    } else {
      const colon = bytes.indexOf(58, pos)
      if (colon < 0 || colon >= end) {
        badLines++
      } else {
        fieldCount++
        const key = wantedKey(bytes, pos, colon)
        if (key) {
          if (key === 'Package' && fields.Package !== undefined) flush(pos) // a lost blank line between stanzas
          fields[key] = utf8.decode(bytes.subarray(colon + 1, end)).trim()
        }
      }
    }
    pos = end + 1
  }
  flush(n)
  if (badLines > 0 && fieldCount === 0) {
    throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: ${badLines} lines and none is a control field`)
  }
  if (binary.length === 0) return { packages }
  const named = binary.slice(0, 10).join(', ') + (binary.length > 10 ? `, … (${binary.length} in all)` : '')
  const warning = new VigilError('ERR_PKGDB_CORRUPT', `${path}: ${binary.length} stanza(s) hold binary data (a NUL byte) and were skipped: ${named}`, { details: { skipped: binary.length } })
  return { packages, warnings: [warning.toRecord()] }
}

export const dpkgAnalyzer: Analyzer = {
  name: 'dpkg',
  version: 2,
  kind: 'os',
  maxBytes: 128 * 1024 * 1024,
  match: (file: FileInfo) => file.path === STATUS_FILE || isStatusDirStanza(file.path),
  parse: (bytes, ctx) => parseDpkgStatus(bytes, ctx.path),
}
