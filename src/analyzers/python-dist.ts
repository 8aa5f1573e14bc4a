import { VigilError } from '../errors.js'
import type { Analyzer, FileInfo } from './types.js'
import { langPackage, utf8 } from './lang/common.js'

/**
 * Installed Python distributions: wheel-style `*.dist-info/METADATA` and setuptools
 * `*.egg-info/PKG-INFO` (or `METADATA`, or a bare `*.egg-info` file), plus `EGG-INFO/PKG-INFO` of
 * an unpacked egg. The name is kept as written in the metadata (`Name:`); the purl carries the purl spec's
 * normalised form.
 */
export const pythonDistAnalyzer: Analyzer = {
  name: 'python-dist',
  version: 1,
  kind: 'lang',
  maxBytes: 8 * 1024 * 1024,
  match(file: FileInfo): boolean {
    const p = file.path
    return (
      // setuptools writes METADATA into some .egg-info folders too (AWS CLI v2 bundles).
      (p.endsWith('/METADATA') && (p.endsWith('.dist-info/METADATA') || p.endsWith('.egg-info/METADATA'))) ||
      (p.endsWith('/PKG-INFO') && (p.endsWith('.egg-info/PKG-INFO') || p.endsWith('/EGG-INFO/PKG-INFO'))) ||
      p.endsWith('.egg-info')
    )
  },
  parse(bytes, ctx) {
    const meta = parseCoreMetadata(bytes, ctx.path)
    return { packages: meta ? [langPackage('PyPI', meta.name, meta.version, ctx.path)] : [] }
  },
}

/**
 * Core metadata is an RFC 822 header block; only `Name` and `Version` matter here, and both sit
 * in the header, so reading stops at the first blank line (the long description can be large
 * and is not always valid UTF-8).
 */
export function parseCoreMetadata(bytes: Uint8Array, path: string): { name: string; version: string } | undefined {
  let end = bytes.length
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0x0a && (bytes[i + 1] === 0x0a || (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a))) {
      end = i
      break
    }
  }
  const head = utf8(bytes.subarray(0, end))
  let name: string | undefined
  let version: string | undefined
  let sawHeader = false
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon <= 0 || line.startsWith(' ') || line.startsWith('\t')) continue
    sawHeader = true
    const key = line.slice(0, colon).toLowerCase()
    if (key === 'name' && name === undefined) name = line.slice(colon + 1).trim()
    else if (key === 'version' && version === undefined) version = line.slice(colon + 1).trim()
  }
  if (!sawHeader && bytes.length > 0) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: no metadata headers`)
  return name && version ? { name, version } : undefined
}
