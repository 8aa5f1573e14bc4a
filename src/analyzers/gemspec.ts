import { VigilError } from '../errors.js'
import type { Analyzer, FileInfo } from './types.js'
import { langPackage, utf8 } from './lang/common.js'

/**
 * Installed gems: `specifications/*.gemspec`, which RubyGems writes as Ruby source. Like Trivy,
 * only the literal `<var>.name = "..."` and `<var>.version = "..."` assignments are read
 * (`.freeze` suffixes allowed); nothing is evaluated.
 */
export const gemspecAnalyzer: Analyzer = {
  name: 'gemspec',
  version: 1,
  kind: 'lang',
  maxBytes: 4 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return file.path.endsWith('.gemspec') && (file.path.startsWith('specifications/') || file.path.includes('/specifications/'))
  },
  parse(bytes, ctx) {
    const id = parseGemspec(utf8(bytes), ctx.path)
    return { packages: [langPackage('RubyGems', id.name, id.version, ctx.path)] }
  },
}

export function parseGemspec(text: string, path: string): { name: string; version: string } {
  const spec = /Gem::Specification\.new\s+do\s*\|\s*(\w+)\s*\|/.exec(text)
  const v = spec?.[1]
  if (!v) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: no Gem::Specification.new block`)
  let name: string | undefined
  let version: string | undefined
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (!line.startsWith(`${v}.`)) continue
    const m = /^\w+\.(name|version)\s*=\s*(\S+)/.exec(line)
    if (!m?.[2]) continue
    const value = literal(m[2])
    if (m[1] === 'name' && name === undefined) name = value
    if (m[1] === 'version' && version === undefined) version = value
  }
  if (!name || !version) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: no literal name and version`)
  return { name, version }
}

function literal(token: string): string | undefined {
  const t = token.replace(/\.freeze$/, '')
  const m = /^(["'])(.*)\1$/.exec(t)
  return m?.[2] || undefined
}
