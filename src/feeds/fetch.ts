import { createWriteStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici'
import { VigilError, type ErrorCode } from '../errors.js'
import { redactUrl as shownUrl } from '../image/http.js'

/**
 * Feed downloads: conditional GET to a file, bounded in time and size, with retries. undici's
 * `request` rather than the global fetch: Node 20's fetch ignores HTTPS_PROXY / NO_PROXY, and
 * undici's EnvHttpProxyAgent honours them; `request` also bounds the wait for headers and the
 * idle time between body chunks separately (a slow drip is caught, a large steady download is not).
 * TLS is always verified; a private CA comes in through NODE_EXTRA_CA_CERTS.
 */

/** Where a feed file lives: an http(s) URL, or a file in a local mirror directory. */
export type Location = { kind: 'http'; url: string } | { kind: 'file'; path: string }

/** What makes the next request conditional (stored per unit in the store's meta). */
export interface Validators {
  etag?: string
  lastModified?: string
}

export interface FetchPolicy {
  /** Wait for response headers, and for each body chunk, at most this long. */
  timeoutMs: number
  /** Attempts per request (1 = no retry). */
  attempts: number
  /** First backoff delay; doubles per attempt, with jitter. */
  baseDelayMs: number
  /** A Retry-After longer than this is not waited for: the source fails for this run. */
  maxRetryAfterMs: number
  dispatcher: Dispatcher
}

export const DEFAULT_FETCH: Omit<FetchPolicy, 'dispatcher'> = { timeoutMs: 30_000, attempts: 4, baseDelayMs: 500, maxRetryAfterMs: 120_000 }

export type FetchResult = { status: 'unchanged' } | { status: 'fetched'; file: string; bytes: number; validators: Validators }

/** A dispatcher that honours HTTP(S)_PROXY / NO_PROXY from `env` (upper or lower case). */
export function proxyDispatcher(env: Readonly<Record<string, string | undefined>>): Dispatcher {
  const pick = (name: string) => env[name] ?? env[name.toLowerCase()]
  const httpProxy = pick('HTTP_PROXY')
  const httpsProxy = pick('HTTPS_PROXY') ?? httpProxy
  const noProxy = pick('NO_PROXY')
  // EnvHttpProxyAgent warns (experimental) when constructed: only pay that when a proxy is set.
  if (!httpProxy && !httpsProxy) return new Agent()
  return new EnvHttpProxyAgent({ ...(httpProxy ? { httpProxy } : {}), ...(httpsProxy ? { httpsProxy } : {}), ...(noProxy !== undefined ? { noProxy } : {}) })
}

export function describeLocation(loc: Location): string {
  return loc.kind === 'http' ? shownUrl(loc.url) : loc.path
}

/**
 * Downloads `loc` to `dest` unless it is unchanged since `validators`. A body over `maxBytes`
 * (declared or streamed) is refused. A failed download may leave a partial `dest`: callers
 * download into a temporary folder they remove. A mirror file is used in place: its validator
 * is its mtime and size.
 */
export async function fetchToFile(loc: Location, dest: string, validators: Validators, maxBytes: number, policy: FetchPolicy): Promise<FetchResult> {
  if (loc.kind === 'file') return useMirrorFile(loc.path, validators, maxBytes)
  let failure: VigilError | undefined
  for (let attempt = 0; attempt < policy.attempts; attempt++) {
    if (failure) await sleep(retryDelay(failure, attempt - 1, policy))
    try {
      return await fetchOnce(loc.url, dest, validators, maxBytes, policy)
    } catch (err) {
      failure = asFeedError(err, loc.url, policy)
      if (!failure.retryable) throw failure
      const wait = (failure.details?.retryAfterMs as number | undefined) ?? 0
      if (wait > policy.maxRetryAfterMs) {
        throw new VigilError('ERR_FEED_UNAVAILABLE', `${failure.message}; asks to retry after ${Math.round(wait / 1000)} s, longer than the ${Math.round(policy.maxRetryAfterMs / 1000)} s this run waits`)
      }
    }
  }
  throw new VigilError(failure!.code, `${failure!.message} (after ${policy.attempts} attempt(s))`, { cause: failure })
}

/** One request with its own (small) body: the OSV listing and record files. */
export async function fetchText(loc: Location, validators: Validators, maxBytes: number, policy: FetchPolicy, tmp: string): Promise<{ status: 'unchanged' } | { status: 'fetched'; text: string; bytes: number; validators: Validators }> {
  const r = await fetchToFile(loc, tmp, validators, maxBytes, policy)
  if (r.status === 'unchanged') return r
  return { status: 'fetched', text: await readFile(r.file, 'utf8'), bytes: r.bytes, validators: r.validators }
}

async function useMirrorFile(path: string, validators: Validators, maxBytes: number): Promise<FetchResult> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new VigilError('ERR_FEED_NOT_FOUND', `${path}: not in the mirror`)
    throw new VigilError('ERR_FEED_UNAVAILABLE', `${path}: ${(err as Error).message}`, { retryable: false })
  }
  if (!info.isFile()) throw new VigilError('ERR_FEED_NOT_FOUND', `${path}: not a file`)
  if (info.size > maxBytes) throw new VigilError('ERR_FEED_TOO_LARGE', `${path} is ${info.size} bytes, over the ${maxBytes}-byte cap`)
  const etag = `file:${Math.trunc(info.mtimeMs)}:${info.size}`
  if (validators.etag === etag) return { status: 'unchanged' }
  return { status: 'fetched', file: path, bytes: info.size, validators: { etag } }
}

async function fetchOnce(url: string, dest: string, validators: Validators, maxBytes: number, policy: FetchPolicy): Promise<FetchResult> {
  const headers: Record<string, string> = { 'user-agent': 'vigil-feed-sync', 'accept-encoding': 'identity' }
  if (validators.etag) headers['if-none-match'] = validators.etag
  if (validators.lastModified) headers['if-modified-since'] = validators.lastModified
  const res = await request(url, {
    method: 'GET',
    headers,
    dispatcher: policy.dispatcher,
    headersTimeout: policy.timeoutMs,
    bodyTimeout: policy.timeoutMs,
    maxRedirections: 5,
  })
  if (res.statusCode === 304) {
    await res.body.dump()
    return { status: 'unchanged' }
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => undefined)
    throw statusError(url, res.statusCode, header(res.headers, 'retry-after'))
  }
  const declared = Number(header(res.headers, 'content-length') ?? NaN)
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.body.on('error', () => undefined)
    res.body.destroy()
    throw new VigilError('ERR_FEED_TOO_LARGE', `${shownUrl(url)} declares ${declared} bytes, over the ${maxBytes}-byte cap`)
  }
  let bytes = 0
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length
      if (bytes > maxBytes) done(new VigilError('ERR_FEED_TOO_LARGE', `${shownUrl(url)} sent more than the ${maxBytes}-byte cap`))
      else done(null, chunk)
    },
  })
  await pipeline(res.body, cap, createWriteStream(dest))
  if (Number.isFinite(declared) && bytes !== declared) {
    throw new VigilError('ERR_FEED_UNAVAILABLE', `${shownUrl(url)} ended after ${bytes} of ${declared} bytes`)
  }
  const out: Validators = {}
  const etag = header(res.headers, 'etag')
  const lastModified = header(res.headers, 'last-modified')
  if (etag) out.etag = etag
  if (lastModified) out.lastModified = lastModified
  return { status: 'fetched', file: dest, bytes, validators: out }
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

function statusError(url: string, status: number, retryAfter: string | undefined): VigilError {
  const where = shownUrl(url)
  if (status === 404 || status === 410) return new VigilError('ERR_FEED_NOT_FOUND', `${where}: HTTP ${status}`)
  if (status >= 500 || status === 429 || status === 408) {
    const retryAfterMs = parseRetryAfter(retryAfter)
    return new VigilError('ERR_FEED_UNAVAILABLE', `${where}: HTTP ${status}`, retryAfterMs === undefined ? undefined : { details: { retryAfterMs } })
  }
  return new VigilError('ERR_FEED_UNAVAILABLE', `${where}: HTTP ${status}`, { retryable: false })
}

/** Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

function retryDelay(failure: VigilError, attempt: number, policy: FetchPolicy): number {
  const asked = failure.details?.retryAfterMs as number | undefined
  if (asked !== undefined) return asked
  const exp = policy.baseDelayMs * 2 ** attempt
  return exp / 2 + Math.random() * (exp / 2)
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT'])

function asFeedError(err: unknown, url: string, policy: FetchPolicy): VigilError {
  if (VigilError.is(err)) return err
  const e = err as { code?: string; message?: string; cause?: { code?: string } }
  const code = e.code ?? e.cause?.code
  const where = shownUrl(url)
  if (code && TIMEOUT_CODES.has(code)) return new VigilError('ERR_FEED_TIMEOUT', `${where}: nothing received within ${policy.timeoutMs} ms (${code})`, { cause: err })
  const why: ErrorCode = 'ERR_FEED_UNAVAILABLE'
  return new VigilError(why, `${where}: ${e.message ?? String(err)}${code ? ` (${code})` : ''}`, { cause: err })
}
