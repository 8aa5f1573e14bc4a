import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, langPackage, utf8 } from './lang/common.js'

/**
 * `yarn.lock`, classic (v1, its own line format) and berry (v2+, YAML-shaped). Both are read line
 * by line: each entry starts at column 0 with `pattern[, pattern]:` and carries one `version`.
 * Entries that point into the project or at git/file sources (workspace:, patch:, file:, link:,
 * portal:, git…) are not registry packages and are left out, as Trivy does. Not registered for
 * images (see lang/lockfiles.ts).
 */
export const yarnLockAnalyzer: Analyzer = {
  name: 'yarn-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 64 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return (file.path === 'yarn.lock' || file.path.endsWith('/yarn.lock')) && !file.path.includes('node_modules/') && !file.path.includes('.yarn/unplugged/')
  },
  parse(bytes, ctx) {
    return { packages: parseYarnLock(utf8(bytes), ctx.path) }
  },
}

// Only registry entries are packages; workspace:, patch:, file:, link:, portal:, git… and unknown
// protocols point elsewhere.
const REGISTRY_PROTOCOLS = new Set(['', 'npm'])

export function parseYarnLock(text: string, path: string): Package[] {
  const out: Package[] = []
  let entry: { name: string; protocol: string; version?: string } | undefined
  let sawEntry = false
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue
    if (!line.startsWith(' ')) {
      flushEntry()
      if (!line.endsWith(':')) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: unexpected line ${JSON.stringify(line.slice(0, 80))}`)
      if (line.startsWith('__metadata')) continue
      entry = parsePattern(line.slice(0, -1).split(', ')[0] ?? '')
      sawEntry = true
      continue
    }
    if (!entry) continue
    const res = /^ {2}"?resolution"?:? "?(@?[^@"\s]+)@npm:/.exec(line)
    if (res?.[1]) entry.name = res[1] // berry: an alias entry resolves to the real package
    const m = /^ {2}"?version"?:? "?([^"\s]+)"?\s*$/.exec(line)
    if (m?.[1]) entry.version = m[1]
  }
  flushEntry()
  if (!sawEntry && text.trim() !== '') throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: no yarn.lock entries`)
  return dedupe(out)

  function flushEntry(): void {
    if (entry?.name && entry.version && REGISTRY_PROTOCOLS.has(entry.protocol)) out.push(langPackage('npm', entry.name, entry.version, path))
    entry = undefined
  }
}

/** `"@scope/name@npm:^1.0.0"` → name `@scope/name`, protocol `npm`. */
export function parsePattern(raw: string): { name: string; protocol: string } {
  const pattern = raw.trim().replace(/^"|"$/g, '')
  const at = pattern.indexOf('@', 1)
  if (at < 0) return { name: '', protocol: '' }
  const name = pattern.slice(0, at)
  const range = pattern.slice(at + 1)
  const proto = /^([a-z+]+):/.exec(range)
  if (proto?.[1]) {
    // Classic alias: `foo@npm:@types/real@^1` installs `@types/real`.
    const alias = proto[1] === 'npm' ? /^npm:(@?[^@]+)(?:@|$)/.exec(range) : null
    return { name: alias?.[1] ?? name, protocol: proto[1] }
  }
  // Classic yarn writes GitHub shorthands as `user/repo#ref`.
  return { name, protocol: /^[^/@\s]+\/[^/\s]+/.test(range) && !range.startsWith('^') ? 'github' : '' }
}
