/**
 * The error catalogue. Every failure Vigil reports has a stable `code`, a retryable flag (the daemon
 * naks retryable faults and terms the rest) and a CLI exit code. Errors cross the worker boundary
 * as plain records (`toErrorRecord` / `fromErrorRecord`) because structured clone drops custom
 * properties of Error objects.
 */

export interface ErrorSpec {
  readonly retryable: boolean
  /** CLI exit code: 2 usage or input error, 3 runtime error. */
  readonly exit: 2 | 3
  readonly summary: string
}

export const ERRORS = {
  // usage and configuration
  ERR_USAGE: { retryable: false, exit: 2, summary: 'bad command-line usage' },
  ERR_CONFIG: { retryable: false, exit: 2, summary: 'invalid configuration' },
  // image references and sources
  ERR_TARGET_INVALID: { retryable: false, exit: 2, summary: 'the target is not a valid image reference' },
  ERR_TARGET_NOT_FOUND: { retryable: false, exit: 2, summary: 'the image, tag or file does not exist' },
  ERR_PLATFORM_NOT_FOUND: { retryable: false, exit: 2, summary: 'no image for the requested platform' },
  ERR_MANIFEST_INVALID: { retryable: false, exit: 2, summary: 'the manifest or index is malformed' },
  ERR_MEDIA_TYPE_UNSUPPORTED: { retryable: false, exit: 2, summary: 'unsupported media type' },
  ERR_ARCHIVE_INVALID: { retryable: false, exit: 2, summary: 'the docker-archive or OCI layout is malformed' },
  // registry
  ERR_REGISTRY_AUTH: { retryable: false, exit: 2, summary: 'the registry refused the credentials' },
  ERR_REGISTRY_UNAVAILABLE: { retryable: true, exit: 3, summary: 'the registry answered 5xx, timed out or reset the connection' },
  ERR_REGISTRY_PROTOCOL: { retryable: false, exit: 3, summary: 'the registry answered something the distribution API does not allow' },
  // blobs and layers
  ERR_DIGEST_MISMATCH: { retryable: false, exit: 2, summary: 'a blob does not match its digest' },
  ERR_LAYER_CORRUPT: { retryable: false, exit: 2, summary: 'a layer cannot be decompressed or is not a tar' },
  ERR_LAYER_TOO_LARGE: { retryable: false, exit: 2, summary: 'a layer expands past the size or ratio limit (decompression bomb)' },
  ERR_PATH_UNSAFE: { retryable: false, exit: 2, summary: 'a tar entry path escapes the root' },
  ERR_FILE_TOO_LARGE: { retryable: false, exit: 2, summary: 'a matched file is larger than the per-file read limit' },
  // package databases
  ERR_PKGDB_CORRUPT: { retryable: false, exit: 2, summary: 'a package database is corrupt' },
  ERR_ARCHIVE_BOMB: { retryable: false, exit: 2, summary: 'an archive inside the image expands past the limit' },
  // versions
  ERR_VERSION_INVALID: { retryable: false, exit: 2, summary: 'a version string is not valid for its scheme' },
  ERR_SCHEME_UNKNOWN: { retryable: false, exit: 2, summary: 'unknown version scheme' },
  // feeds and SBOM input
  ERR_FEED_INVALID: { retryable: false, exit: 2, summary: 'a feed file or record is malformed' },
  ERR_FEED_FORMAT_UNKNOWN: { retryable: false, exit: 2, summary: 'the feed format could not be recognised' },
  ERR_FEED_NOT_FOUND: { retryable: false, exit: 2, summary: 'the feed source (or mirror) has no such file (HTTP 404/410, or missing from the mirror directory)' },
  ERR_FEED_UNAVAILABLE: { retryable: true, exit: 3, summary: 'the feed source answered 5xx or 429, or the connection failed or was reset, after every retry' },
  ERR_FEED_TIMEOUT: { retryable: true, exit: 3, summary: 'the feed source sent nothing within the timeout' },
  ERR_FEED_TOO_LARGE: { retryable: false, exit: 3, summary: 'a feed download is over the size cap for its source' },
  ERR_FEED_CORRUPT: { retryable: true, exit: 3, summary: 'a downloaded feed file is truncated, not the expected format, or fails its sanity checks' },
  ERR_NO_DATA: { retryable: false, exit: 2, summary: 'no vulnerability data for the image\'s ecosystems: run vigil db update' },
  ERR_SBOM_INVALID: { retryable: false, exit: 2, summary: 'the SBOM is not valid CycloneDX or SPDX JSON' },
  // store
  ERR_STORE: { retryable: true, exit: 3, summary: 'the LMDB store failed' },
  ERR_STORE_SCHEMA: { retryable: false, exit: 3, summary: 'the store was written by an incompatible schema' },
  ERR_NOT_FOUND: { retryable: false, exit: 2, summary: 'no such record' },
  // messages and broker
  ERR_MESSAGE_INVALID: { retryable: false, exit: 2, summary: 'a message does not decode or does not match its schema' },
  ERR_MESSAGE_TOO_LARGE: { retryable: false, exit: 2, summary: 'a message is over the size limit' },
  ERR_BROKER: { retryable: true, exit: 3, summary: 'the NATS connection failed' },
  ERR_BROKER_NO_JETSTREAM: { retryable: false, exit: 2, summary: 'the NATS server does not have JetStream enabled' },
  ERR_SECRET: { retryable: false, exit: 2, summary: 'credentials could not be decrypted' },
  ERR_TIMEOUT: { retryable: true, exit: 3, summary: 'the operation timed out' },
  ERR_INTERNAL: { retryable: true, exit: 3, summary: 'an unexpected internal error' },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

export interface ErrorRecord {
  readonly code: ErrorCode
  readonly message: string
  readonly retryable: boolean
  readonly details?: Record<string, unknown>
}

const kVigilError = Symbol.for('vigil.error')

export class VigilError extends Error {
  readonly code: ErrorCode
  readonly retryable: boolean
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown>; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'VigilError'
    this.code = code
    this.retryable = options?.retryable ?? ERRORS[code].retryable
    this.details = options?.details
    Object.defineProperty(this, kVigilError, { value: true })
  }

  /** Works across module copies and worker realms, where `instanceof` would not. */
  static is(value: unknown): value is VigilError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kVigilError] === true
  }

  get exitCode(): 2 | 3 {
    return ERRORS[this.code].exit
  }

  toRecord(): ErrorRecord {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.details ? { details: this.details } : {}) }
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value)
}

/** Any thrown value → a catalogue record. Unknown errors become ERR_INTERNAL (retryable). */
export function toErrorRecord(err: unknown): ErrorRecord {
  if (VigilError.is(err)) return err.toRecord()
  if (typeof err === 'object' && err !== null && isErrorCode((err as { code?: unknown }).code)) {
    const e = err as { code: ErrorCode; message?: unknown; retryable?: unknown }
    return { code: e.code, message: String(e.message ?? e.code), retryable: typeof e.retryable === 'boolean' ? e.retryable : ERRORS[e.code].retryable }
  }
  const message = err instanceof Error ? err.message : String(err)
  return { code: 'ERR_INTERNAL', message, retryable: true }
}

export function fromErrorRecord(rec: ErrorRecord): VigilError {
  return new VigilError(rec.code, rec.message, { retryable: rec.retryable, ...(rec.details ? { details: rec.details } : {}) })
}

/**
 * Worker threads lose custom Error properties (piscina#1143), so workers encode the record in the
 * message as `[CODE]{json}` and the pool side decodes it.
 */
export function encodeForWorker(err: unknown): Error {
  const rec = toErrorRecord(err)
  return new Error(`[${rec.code}]${JSON.stringify(rec)}`)
}

export function decodeFromWorker(err: unknown): VigilError {
  if (VigilError.is(err)) return err
  const message = err instanceof Error ? err.message : String(err)
  const m = /^\[(ERR_[A-Z_]+)\](\{.*\})$/s.exec(message)
  if (m?.[2]) {
    try {
      const rec = JSON.parse(m[2]) as ErrorRecord
      if (isErrorCode(rec.code)) return fromErrorRecord(rec)
    } catch {
      // fall through to an internal error
    }
  }
  return new VigilError('ERR_INTERNAL', message, { cause: err })
}
