import type { ErrorRecord } from '../errors.js'
import type { OsInfo, Package } from '../types.js'

/** Unique analyzer names; the name is part of the layer-cache key together with `version`. */
export type AnalyzerName = string

export interface FileInfo {
  /** Normalised path inside the image: no leading `/` or `./`, no `..` segments. */
  readonly path: string
  readonly size: number
  /** Unix mode bits (permissions), as in the tar header. */
  readonly mode: number
}

export interface ParseContext extends FileInfo {
  /** Digest of the layer being analysed (absent when parsing a loose file, e.g. in tests). */
  readonly layer?: string
  /**
   * Reads a file relative to this one's folder (`go.sum` beside `go.mod`), or undefined when it is
   * absent. Only source-tree callers give it; lockfile readers whose format spans two files use it.
   */
  readonly readRelative?: (relativePath: string) => Uint8Array | undefined
}

/**
 * What one file yields. Plain data only: it crosses the worker boundary and is cached in LMDB.
 * OS packages come out with `ecosystem` and `purl` empty: the OS is only known after the layers
 * are merged, and `finalizeInventory` fills both in.
 */
export interface AnalyzerResult {
  packages?: Package[]
  /** Facts about the OS release (from /etc/os-release and distro files). */
  os?: Partial<OsInfo> & { family?: string }
  /** Files that an OS package database says are owned by OS packages (dpkg info/*.list, rpm, apk). */
  ownedFiles?: string[]
  /**
   * What the parser skipped while keeping the rest (a nested archive past the depth limit, a
   * corrupt stanza): catalogue errors as plain records, carried into the inventory's warnings.
   */
  warnings?: ErrorRecord[]
}

export interface Analyzer {
  readonly name: AnalyzerName
  /** Bump when output changes: cached layer reports made by an older version are not reused. */
  readonly version: number
  readonly kind: 'os' | 'lang' | 'release'
  /** Cheap and pure; called for every regular file in every layer. */
  match(file: FileInfo): boolean
  /**
   * For analyzers that recognise files by content (Go / Rust binaries): given the first bytes of a
   * file that `match` accepted, say whether to read it whole. Absent means always read.
   */
  sniff?(head: Uint8Array): boolean
  /** Per-file read limit in bytes; a larger matched file is skipped with ERR_FILE_TOO_LARGE. */
  readonly maxBytes?: number
  /**
   * Throws only VigilError (ERR_PKGDB_CORRUPT, ERR_ARCHIVE_BOMB, ...), and only when nothing of the
   * file can be read; a part that cannot be read is left out and named in `warnings`.
   */
  parse(bytes: Uint8Array, ctx: ParseContext): AnalyzerResult | Promise<AnalyzerResult>
}
