import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, langPackage, utf8 } from './lang/common.js'
import { isNamed } from './lang/names.js'

/**
 * Elixir `mix.lock` (not registered for images): an Elixir map literal with one entry per line,
 * `"name": {:hex, :name, "version", …}`. Only `:hex` entries name a Hex release (`:git` and
 * `:path` ones do not). Hand-written: the file is Elixir term syntax, for which there is no
 * maintained npm parser, and mix writes each entry on one line.
 */
export const mixLockAnalyzer: Analyzer = {
  name: 'mix-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 8 * 1024 * 1024,
  match: (file: FileInfo) => isNamed(file.path, 'mix.lock'),
  parse(bytes, ctx) {
    const out: Package[] = []
    for (const line of utf8(bytes).split(/\r?\n/)) {
      const m = /^\s*"([^"]+)":\s*\{:hex,\s*:"?([A-Za-z0-9_]+)"?,\s*"([^"]+)"/.exec(line)
      if (m) out.push(langPackage('Hex', m[2]!, m[3]!, ctx.path))
    }
    return { packages: dedupe(out) }
  },
}
