import type { Analyzer, AnalyzerResult, FileInfo } from './types.js'

/**
 * OS release facts: `etc/os-release` / `usr/lib/os-release` (systemd's format, written by every
 * current distribution and by distroless), and the older distro-specific files for images that
 * lack it. Each file yields its own facts; `osInfoFromFacts` (src/sbom/finalize.ts) picks the
 * winner by `RELEASE_FILE_RANK`, so precedence lives in one place.
 */

/** Higher wins. os-release is authoritative; distro files are fallbacks for old images. */
export const RELEASE_FILE_RANK: Readonly<Record<string, number>> = {
  'etc/os-release': 100,
  'usr/lib/os-release': 90,
  'etc/alpine-release': 60,
  'etc/centos-release': 60,
  'etc/rocky-release': 60,
  'etc/almalinux-release': 60,
  'etc/fedora-release': 60,
  'etc/oracle-release': 60,
  'etc/photon-release': 60,
  'etc/mariner-release': 60,
  'etc/SuSE-release': 50,
  'etc/lsb-release': 40,
  // Also present on CentOS, Rocky, Alma, Fedora and Oracle images: ranked below their own files.
  'etc/redhat-release': 30,
  'etc/system-release': 30,
  // Ubuntu ships it too (`bookworm/sid`): the weakest fact of all.
  'etc/debian_version': 20,
}

const utf8 = new TextDecoder('utf-8')

/** systemd os-release(5): `KEY=value`, value optionally in single or double quotes with `\` escapes. */
export function parseKeyValue(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    if (eq <= 0) continue
    let value = line.slice(eq + 1).trim()
    const q = value[0]
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) {
      value = value.slice(1, -1)
      if (q === '"' && value.includes('\\')) value = value.replace(/\\(["\\`$])/g, '$1')
    }
    out.set(line.slice(0, eq).trim(), value)
  }
  return out
}

// `CentOS Linux release 7.6.1810 (Core)` and friends: the vendor name decides the family.
const RELEASE_LINE_FAMILIES: ReadonlyArray<[string, string]> = [
  ['centos', 'centos'],
  ['red hat', 'rhel'],
  ['rocky', 'rocky'],
  ['almalinux', 'almalinux'],
  ['fedora', 'fedora'],
  ['oracle', 'ol'],
  ['amazon', 'amzn'],
  ['photon', 'photon'],
  ['cbl-mariner', 'mariner'],
  ['mariner', 'mariner'],
  ['opensuse', 'opensuse-leap'],
  ['suse', 'sles'],
]

function fromReleaseLine(text: string): AnalyzerResult['os'] {
  const line = text.split('\n', 1)[0]?.trim() ?? ''
  const lower = line.toLowerCase()
  const family = RELEASE_LINE_FAMILIES.find(([needle]) => lower.includes(needle))?.[1]
  if (!family) return undefined
  // The version is the first word that starts with a digit: `release 7.6.1810`, `Linux 3.0`, `2.0.20220226`.
  const version = line.split(/\s+/).find((w) => w.charCodeAt(0) >= 48 && w.charCodeAt(0) <= 57)
  return { family, ...(version ? { version } : {}), prettyName: line }
}

function fromOsRelease(text: string): AnalyzerResult['os'] {
  const kv = parseKeyValue(text)
  const id = kv.get('ID')?.toLowerCase()
  if (!id) return undefined
  const version = kv.get('VERSION_ID')
  const prettyName = kv.get('PRETTY_NAME')
  return { family: id, ...(version ? { version } : {}), ...(prettyName ? { prettyName } : {}) }
}

function fromLsbRelease(text: string): AnalyzerResult['os'] {
  const kv = parseKeyValue(text)
  const id = kv.get('DISTRIB_ID')?.toLowerCase()
  if (!id) return undefined
  const version = kv.get('DISTRIB_RELEASE')
  const prettyName = kv.get('DISTRIB_DESCRIPTION')
  return { family: id, ...(version ? { version } : {}), ...(prettyName ? { prettyName } : {}) }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]?.trim() ?? ''
}

export function parseReleaseFile(path: string, text: string): AnalyzerResult['os'] {
  switch (path) {
    case 'etc/os-release':
    case 'usr/lib/os-release':
      return fromOsRelease(text)
    case 'etc/lsb-release':
      return fromLsbRelease(text)
    case 'etc/alpine-release': {
      const version = firstLine(text)
      return version ? { family: 'alpine', version } : undefined
    }
    case 'etc/debian_version': {
      const version = firstLine(text)
      return version ? { family: 'debian', version } : undefined
    }
    case 'etc/SuSE-release': {
      // `SUSE Linux Enterprise Server 12 (x86_64)` then `VERSION = 12`, `PATCHLEVEL = 3`.
      const kv = new Map(text.split('\n').map((l) => l.split('=').map((s) => s.trim()) as [string, string]))
      const base = fromReleaseLine(text)
      const version = kv.get('VERSION')
      const patch = kv.get('PATCHLEVEL')
      if (!base) return undefined
      return { ...base, ...(version ? { version: patch && patch !== '0' ? `${version}.${patch}` : version } : {}) }
    }
    default:
      return fromReleaseLine(text)
  }
}

export const osReleaseAnalyzer: Analyzer = {
  name: 'os-release',
  version: 1,
  kind: 'release',
  maxBytes: 64 * 1024,
  match: (file: FileInfo) => Object.hasOwn(RELEASE_FILE_RANK, file.path),
  parse(bytes, ctx): AnalyzerResult {
    // Release files are free text: an unreadable one is simply not a fact, never an error.
    const os = parseReleaseFile(ctx.path, utf8.decode(bytes))
    return os ? { os } : {}
  },
}
