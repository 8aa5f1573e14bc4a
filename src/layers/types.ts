import type { AnalyzerName, AnalyzerResult } from '../analyzers/types.js'
import type { ErrorRecord } from '../errors.js'
import type { LayerRef } from '../image/types.js'
import type { Digest } from '../types.js'

/** Bounds one layer analysis. Every field has a default (DEFAULT_LIMITS). */
export interface LayerLimits {
  /** Uncompressed bytes a layer may expand to. */
  maxExpandedBytes: number
  /** Uncompressed ÷ compressed bytes, checked once `ratioGraceBytes` have come out. */
  maxRatio: number
  /** Expansion below this is never a bomb, however well it compresses (a small layer of zeros). */
  ratioGraceBytes: number
  /** Default per-file read limit for analyzers that do not set `maxBytes`. */
  maxFileBytes: number
  /** Bytes of matched files kept so that a later hard link to one can be parsed too. */
  linkRetainBytes: number
}

export const DEFAULT_LIMITS: LayerLimits = {
  maxExpandedBytes: 32 * 1024 ** 3,
  maxRatio: 200,
  ratioGraceBytes: 256 * 1024 ** 2,
  maxFileBytes: 64 * 1024 ** 2,
  linkRetainBytes: 32 * 1024 ** 2,
}

/** What the pool sends to a worker: plain data only. */
export interface LayerTask {
  layer: LayerRef
  /** The analyzer-set version the main thread expects; a worker running another set refuses. */
  analyzerSet: string
  limits?: Partial<LayerLimits>
}

/** One analyzer's result for one file of the layer. */
export interface FileReport {
  path: string
  analyzer: AnalyzerName
  result: AnalyzerResult
}

/**
 * What a worker returns for one layer: small, plain, cacheable. Whiteout and opaque paths are
 * normalised directory-relative paths (`opt/app/obsolete.txt`, `opt/app/config`).
 */
export interface LayerReport {
  digest: Digest
  diffId?: Digest
  files: FileReport[]
  whiteouts: string[]
  opaqueDirs: string[]
  /**
   * Paths an analyzer would match that this layer turns into something other than a regular file
   * (symlink, directory, device). They hide a lower layer's file at the same path when merging.
   */
  shadows: string[]
  /** Non-fatal problems (unsafe paths skipped, oversized files, corrupt package databases). */
  errors: ErrorRecord[]
  stats: LayerStats
}

export interface LayerStats {
  /** Blob bytes read (compressed). */
  bytesIn: number
  /** Tar bytes after decompression. */
  bytesOut: number
  entries: number
  /** Files handed to analyzers. */
  matched: number
  compression: 'gzip' | 'zstd' | 'none'
}
