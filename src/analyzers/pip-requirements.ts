import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, langPackage } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * `requirements.txt` (not registered for images, see lang/lockfiles.ts). Only pinned lines name
 * a version: `name==1.2` / `name===1.2`, with extras, environment markers, `--hash` options,
 * comments and `\` continuations stripped, as Trivy's pip parser reads them. A range
 * (`>=`, `~=`) says nothing about what is installed and is skipped unless `useMinVersion` is
 * asked for (Trivy's `--pip-use-min-version`), which takes the lowest version the line allows.
 * Hand-written: pip's grammar for these files is line based and has no maintained npm parser.
 */
export const pipRequirementsAnalyzer: Analyzer = {
  name: 'pip-requirements',
  version: 1,
  kind: 'lang',
  maxBytes: 8 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'requirements.txt'),
  parse: (bytes, ctx) => ({ packages: parseRequirements(decodeText(bytes), ctx.path) }),
}

/** pip accepts UTF-16 files (Windows editors write them); they start with a byte-order mark. */
function decodeText(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2))
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2))
  return new TextDecoder('utf-8').decode(bytes).replace(/^\uFEFF/, '')
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+!*-]*$/

export function parseRequirements(text: string, path: string, opts: { useMinVersion?: boolean } = {}): Package[] {
  const out: Package[] = []
  for (const logical of text.replace(/\\\r?\n/g, ' ').split(/\r?\n/)) {
    let line = logical.replace(/#.*$/, '')
    line = line.replace(/\s--?[A-Za-z-]+(=\S*)?/g, '').replace(/;.*$/, '').trim()
    if (line === '' || line.startsWith('-')) continue
    const spec = /^([^\s[<>=!~]+)\s*(?:\[[^\]]*\])?\s*(.*)$/.exec(line)
    if (!spec || !NAME.test(spec[1]!)) continue
    const version = pickVersion(spec[2]!.split(',').map((s) => s.trim()).filter(Boolean), opts.useMinVersion === true)
    if (version && VERSION.test(version)) out.push(langPackage('PyPI', spec[1]!, version, path))
  }
  return dedupe(out)
}

/** `==1.2` → 1.2; with useMinVersion also `>=1.2`, `~=1.2`, and `==1.*` → 1.0 (only trailing wildcards). */
function pickVersion(clauses: string[], useMin: boolean): string | undefined {
  const ops = clauses.map((c) => /^(===|==|>=|~=|!=|<=|<|>)\s*(.+)$/.exec(c)).filter((m): m is RegExpExecArray => m !== null)
  const exact = ops.find((m) => (m[1] === '==' || m[1] === '===') && !m[2]!.includes('*'))
  if (exact) return exact[2]
  if (!useMin) return undefined
  const lower = ops.find((m) => m[1] === '>=' || m[1] === '~=')
  if (lower) return lower[2]
  const wild = ops.find((m) => m[1] === '==' && /^[^*]+(\.\*)$/.test(m[2]!))
  return wild ? wild[2]!.replace(/\.\*$/, '.0') : undefined
}
