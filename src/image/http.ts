import type { LookupAddress, LookupOptions } from 'node:dns'
import { isIP } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, buildConnector, type Dispatcher } from 'undici'
import { VigilError } from '../errors.js'
import { checkConnect, isSpecialHost, type ConnectGuard } from './target-policy.js'
import type { RetryPolicy } from './types.js'

/**
 * Registry HTTP with bounded retries. Stateless on purpose: worker threads use it to open blobs
 * (openBlobStream) as well as the main thread. Node's built-in fetch (undici); the header timeout
 * is an AbortSignal. A job's requests (a `guard` in the options) go through a dispatcher that
 * checks each new connection's address against the job's target policy; the CLI's use the default.
 */

export const DEFAULT_RETRY: Required<RetryPolicy> = { attempts: 4, baseDelayMs: 250, maxDelayMs: 4000 }
export const DEFAULT_TIMEOUT_MS = 30_000

export interface HttpOptions {
  retry?: RetryPolicy
  timeoutMs?: number
  signal?: AbortSignal
  /** A job's target policy, checked against the address of every connection it opens. */
  guard?: ConnectGuard
}

/** 5xx and 429 are worth another try; so are 408 and connection-level failures. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408
}

/** Removes userinfo and the query string, which may hold secrets, from a URL for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return '<invalid url>'
  }
}

function backoff(policy: Required<RetryPolicy>, attempt: number): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt)
  return exp / 2 + Math.random() * (exp / 2)
}

/** Guarded dispatchers by policy, per thread; a daemon sees few policies (one per registry named). */
const guardedAgents = new Map<string, Agent>()
const MAX_GUARDED_AGENTS = 16

/**
 * An undici Agent whose connector resolves the host, has checkConnect refuse what the guard
 * forbids, and hands the checked addresses to the socket's own lookup, so the connection reaches
 * an address that was checked (every one of them, for Happy Eyeballs), never a fresh answer; TLS
 * still verifies the name. One lookup per connection, kept alive across requests like any other.
 */
function guardedDispatcher(guard: ConnectGuard): Dispatcher {
  const key = JSON.stringify([guard.registry, guard.allowRegistries, guard.denyRegistries])
  const known = guardedAgents.get(key)
  if (known) return known
  // net.connect asks its lookup synchronously, right after the answer is put here; an answer
  // missing (taken by another connection) fails that connection rather than resolve unchecked.
  const checked = new Map<string, string[]>()
  const lookup = (host: string, options: LookupOptions, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    const addresses = checked.get(host)
    checked.delete(host)
    if (!addresses) return callback(Object.assign(new Error(`no checked address for ${host}`), { code: 'ENOTFOUND' }), [])
    const all = addresses.map((address) => ({ address, family: isIP(address) })).filter((a) => !options.family || a.family === options.family)
    if (options.all) return callback(null, all)
    if (all.length === 0) return callback(Object.assign(new Error(`no IPv${options.family} address for ${host}`), { code: 'ENOTFOUND' }), [])
    callback(null, all[0]!.address, all[0]!.family)
  }
  const connect = buildConnector({ lookup } as buildConnector.BuildOptions)
  const agent = new Agent({
    connect: (opts, callback) => {
      const port = opts.port || (opts.protocol === 'https:' ? '443' : '80')
      checkConnect(opts.hostname, String(port), guard).then(
        (addresses) => {
          if (!isIP(opts.hostname)) checked.set(opts.hostname, addresses)
          connect(opts, callback)
        },
        (err: Error) => callback(err, null),
      )
    },
  })
  guardedAgents.set(key, agent)
  // The oldest goes; close() lets its requests in flight finish.
  for (const [old, oldest] of guardedAgents) {
    if (guardedAgents.size <= MAX_GUARDED_AGENTS) break
    guardedAgents.delete(old)
    void oldest.close().catch(() => undefined)
  }
  return agent
}

/** One fetch whose wait for response headers is bounded; the body may then take as long as it needs. */
async function fetchOnce(url: string, init: RequestInit, timeoutMs: number, outer: AbortSignal | undefined, guard: ConnectGuard | undefined): Promise<Response> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new VigilError('ERR_TIMEOUT', `no response from ${redactUrl(url)} within ${timeoutMs} ms`)), timeoutMs)
  const onOuter = () => controller.abort(outer?.reason)
  outer?.addEventListener('abort', onOuter, { once: true })
  try {
    // Node's fetch takes an undici dispatcher; its RequestInit type does not name the field.
    const dispatcher = guard ? { dispatcher: guardedDispatcher(guard) } : {}
    return await fetch(url, { ...init, signal: controller.signal, redirect: 'manual', ...dispatcher } as RequestInit)
  } finally {
    clearTimeout(timer)
    outer?.removeEventListener('abort', onOuter)
  }
}

export type Attempt = { response: Response } | { failure: unknown }

/**
 * GET/HEAD `url`, following redirects by hand (followRedirects: another origin only for a blob,
 * and then without `Authorization`, so blob storage never sees registry credentials). Retries
 * network failures, timeouts and retryable statuses with jittered exponential backoff; after the
 * last attempt a retryable status is returned as is (the caller words the error), and a network
 * failure becomes ERR_REGISTRY_UNAVAILABLE.
 */
export async function fetchWithRetry(url: string, init: RequestInit & { headers?: Record<string, string> }, opts: HttpOptions = {}): Promise<Response> {
  const policy = { ...DEFAULT_RETRY, ...opts.retry }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  let lastFailure: unknown
  for (let attempt = 0; attempt < policy.attempts; attempt++) {
    if (attempt > 0) await sleep(backoff(policy, attempt - 1), undefined, opts.signal ? { signal: opts.signal } : undefined)
    try {
      const response = await followRedirects(url, init, timeoutMs, opts.signal, opts.guard)
      if (!isRetryableStatus(response.status) || attempt === policy.attempts - 1) return response
      await response.body?.cancel().catch(() => undefined)
      lastFailure = new Error(`HTTP ${response.status}`)
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err
      // fetch wraps what the connector threw ("fetch failed"); a guard's refusal is the answer.
      const cause = (err as { cause?: unknown }).cause
      if (VigilError.is(cause) && !cause.retryable) throw cause
      // A refused redirect is an answer, not a fault: another try would be refused the same way.
      if (VigilError.is(err) && !err.retryable) throw err
      lastFailure = err
    }
  }
  throw unavailable(url, policy.attempts, lastFailure)
}

export function unavailable(url: string, attempts: number, cause: unknown): VigilError {
  const why = describeFailure(cause)
  return new VigilError('ERR_REGISTRY_UNAVAILABLE', `${redactUrl(url)} failed after ${attempts} attempt(s): ${why}`, { cause })
}

function describeFailure(err: unknown): string {
  if (VigilError.is(err)) return err.message
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    if (cause?.code) return `${err.message} (${cause.code})`
    return err.message
  }
  return String(err)
}

/** A registry blob GET: the one request a registry may send to its blob storage (S3, GCS, a CDN). */
const BLOB_PATH = /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/

/**
 * Redirects are followed by hand: within the origin with the request's headers; to another origin
 * only from a blob GET (the registry's blob storage), and then without credentials; never from
 * https to http, and never to a link-local or cloud metadata address.
 */
async function followRedirects(url: string, init: RequestInit & { headers?: Record<string, string> }, timeoutMs: number, signal: AbortSignal | undefined, guard: ConnectGuard | undefined): Promise<Response> {
  let current = url
  let headers = init.headers ?? {}
  const origin = new URL(url)
  const blob = BLOB_PATH.test(origin.pathname)
  for (let hop = 0; hop <= 5; hop++) {
    const response = await fetchOnce(current, { ...init, headers }, timeoutMs, signal, guard)
    const location = response.headers.get('location')
    if (![301, 302, 303, 307, 308].includes(response.status) || !location) return response
    await response.body?.cancel().catch(() => undefined)
    let next: URL
    try {
      next = new URL(location, current)
    } catch {
      throw new VigilError('ERR_REGISTRY_PROTOCOL', `${redactUrl(url)} redirects to something that is not a URL`)
    }
    const refuse = (why: string) => new VigilError('ERR_REGISTRY_PROTOCOL', `${redactUrl(url)} redirects ${why}; not followed`)
    if (next.protocol !== 'https:' && next.protocol !== 'http:') throw refuse('to a scheme other than http(s)')
    if (origin.protocol === 'https:' && next.protocol === 'http:') throw refuse('from https to plain http')
    if (isSpecialHost(next.hostname)) throw refuse('to a link-local or cloud metadata address')
    if (next.origin !== origin.origin) {
      if (!blob) throw refuse('to another origin (only a blob download may go to blob storage)')
      headers = withoutAuthorization(headers)
    }
    current = next.toString()
  }
  throw new VigilError('ERR_REGISTRY_PROTOCOL', `too many redirects from ${redactUrl(url)}`)
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'authorization') out[k] = v
  return out
}
