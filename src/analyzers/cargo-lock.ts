import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { dedupe, langPackage, utf8 } from './lang/common.js'
import { VigilError } from '../errors.js'

/**
 * `Cargo.lock`: Rust has no installed-package record, so images that ship a lock (or build in
 * place) are read from it, as Trivy does. Only `[[package]]` tables' `name` and `version`
 * matter; a full TOML parser is not a dependency for two string keys.
 */
export const cargoLockAnalyzer: Analyzer = {
  name: 'cargo-lock',
  version: 1,
  kind: 'lang',
  maxBytes: 16 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return file.path === 'Cargo.lock' || file.path.endsWith('/Cargo.lock')
  },
  parse(bytes, ctx) {
    return { packages: parseCargoLock(utf8(bytes), ctx.path) }
  },
}

export function parseCargoLock(text: string, path: string): Package[] {
  const out: Package[] = []
  let inPackage = false
  let name: string | undefined
  let version: string | undefined
  const flush = (): void => {
    if (inPackage && name && version) out.push(langPackage('crates.io', name, version, path))
    name = version = undefined
  }
  let lineNo = 0
  for (const raw of text.split(/\r?\n/)) {
    lineNo++
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    if (line.startsWith('[')) {
      if (!/^\[\[?[A-Za-z0-9_.\-" ]+\]\]?$/.test(line)) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}:${lineNo}: bad table header`)
      flush()
      inPackage = line === '[[package]]'
      continue
    }
    if (!inPackage) continue
    if (/^[A-Za-z0-9_-]+\s*=\s*$/.test(line)) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}:${lineNo}: key without a value`)
    // Basic, literal and multi-line-delimited TOML strings all occur in hand-edited locks.
    const m = /^(name|version)\s*=\s*(?:"{3}(.*)"{3}|'{3}(.*)'{3}|"([^"]*)"|'([^']*)')\s*(?:#.*)?$/.exec(line)
    if (m) {
      const value = m[2] ?? m[3] ?? m[4] ?? m[5]
      if (m[1] === 'name') name = value
      else version = value
    } else if (!/^[A-Za-z0-9_-]+\s*=/.test(line) && !/^["\]]/.test(line)) {
      throw new VigilError('ERR_PKGDB_CORRUPT', `${path}:${lineNo}: not a TOML key/value line`)
    }
  }
  flush()
  return dedupe(out)
}
