import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream'
import { VigilError } from '../errors.js'
import { asDigest, isDigest, type Digest } from '../types.js'
import { fetchWithRetry, redactUrl, type HttpOptions } from './http.js'
import type { BlobLocator } from './types.js'

export function sha256Digest(bytes: Uint8Array | string): Digest {
  return asDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`)
}

function mismatch(expected: Digest, actual: string, what: string): VigilError {
  return new VigilError('ERR_DIGEST_MISMATCH', `${what} does not match its digest: expected ${expected}, got ${actual}`, { details: { expected, actual } })
}

/** Checks bytes already in memory (manifests, configs); throws ERR_DIGEST_MISMATCH. */
export function verifyBytes(bytes: Uint8Array, expected: string, what = 'blob'): Digest {
  if (!isDigest(expected)) throw new VigilError('ERR_MANIFEST_INVALID', `${what}: unsupported digest "${expected}" (only sha256 is supported)`)
  const actual = sha256Digest(bytes)
  if (actual !== expected) throw mismatch(expected, actual, what)
  return actual
}

/**
 * A pass-through that hashes what flows through it and fails the stream with ERR_DIGEST_MISMATCH
 * at the end when the bytes do not match (also when a size was given and the count differs). The
 * consumer has seen the bytes by then, so it must treat its results as void when the stream errors.
 */
export class DigestVerifier extends Transform {
  readonly expected: Digest
  private readonly hash = createHash('sha256')
  private readonly expectedSize: number | undefined
  private readonly what: string
  bytes = 0

  constructor(expected: string, options: { size?: number; what?: string } = {}) {
    super()
    if (!isDigest(expected)) throw new VigilError('ERR_MANIFEST_INVALID', `unsupported digest "${expected}" (only sha256 is supported)`)
    this.expected = expected
    this.expectedSize = options.size
    this.what = options.what ?? `blob ${expected}`
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk)
    this.bytes += chunk.length
    done(null, chunk)
  }

  override _flush(done: TransformCallback): void {
    const actual = `sha256:${this.hash.digest('hex')}`
    if (actual !== this.expected) return done(mismatch(this.expected, actual, this.what))
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      return done(new VigilError('ERR_DIGEST_MISMATCH', `${this.what}: ${this.bytes} bytes, the manifest says ${this.expectedSize}`))
    }
    done()
  }
}

export function createDigestVerifier(expected: string, options: { size?: number; what?: string } = {}): DigestVerifier {
  return new DigestVerifier(expected, options)
}

/** Hashes a whole stream (tests, and docker-archive layers whose blob digest is not written down). */
export async function digestStream(stream: Readable): Promise<{ digest: Digest; bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of stream) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  return { digest: asDigest(`sha256:${hash.digest('hex')}`), bytes }
}

/**
 * Opens a blob where its locator says. Runs inside worker threads: it uses nothing but the
 * locator. An http locator's connection failures and 5xx are retried before the first byte; once
 * bytes flow, a failure ends the stream with an error (the caller retries the whole layer).
 * 401/403 fail with ERR_REGISTRY_AUTH and `details.reauth = true`: the token in the locator has
 * expired, and the main thread can renew it with `refreshBlobLocator` (registry.ts).
 */
export function openBlobStream(locator: BlobLocator, options: HttpOptions = {}): Readable {
  if (locator.kind === 'file') return openFileRange(locator)
  const out = new PassThrough()
  fetchWithRetry(locator.url, { method: 'GET', headers: locator.headers }, { ...options, ...(locator.guard ? { guard: locator.guard } : {}) }).then(
    (res) => {
      if (res.ok && res.body) {
        const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>)
        body.on('error', (err) => out.destroy(new VigilError('ERR_REGISTRY_UNAVAILABLE', `blob download from ${redactUrl(locator.url)} broke off: ${err.message}`, { cause: err })))
        out.on('close', () => body.destroy())
        body.pipe(out)
        return
      }
      void res.body?.cancel().catch(() => undefined)
      out.destroy(blobStatusError(res.status, locator.url))
    },
    (err: unknown) => out.destroy(err as Error),
  )
  return out
}

function blobStatusError(status: number, url: string): VigilError {
  const where = redactUrl(url)
  if (status === 401 || status === 403) return new VigilError('ERR_REGISTRY_AUTH', `${where}: HTTP ${status} (the token may have expired)`, { details: { status, reauth: true } })
  if (status === 404) return new VigilError('ERR_TARGET_NOT_FOUND', `${where}: blob not found`)
  if (status >= 500 || status === 429) return new VigilError('ERR_REGISTRY_UNAVAILABLE', `${where}: HTTP ${status}`)
  return new VigilError('ERR_REGISTRY_PROTOCOL', `${where}: unexpected HTTP ${status}`)
}

function openFileRange(locator: { path: string; offset?: number; length?: number }): Readable {
  const start = locator.offset ?? 0
  const range = locator.length === undefined ? { start } : locator.length === 0 ? null : { start, end: start + locator.length - 1 }
  if (range === null) return Readable.from([])
  const stream = createReadStream(locator.path, range)
  const out = new PassThrough()
  stream.on('error', (err: NodeJS.ErrnoException) => {
    out.destroy(err.code === 'ENOENT' ? new VigilError('ERR_TARGET_NOT_FOUND', `blob file ${locator.path} does not exist`, { cause: err }) : err)
  })
  out.on('close', () => stream.destroy())
  return stream.pipe(out)
}
