import { VigilError } from '../errors.js'
import { fetchWithRetry, redactUrl, type HttpOptions } from './http.js'
import { isLoopbackHost } from './reference.js'
import { isSpecialHost } from './target-policy.js'
import type { RegistryAuth } from './types.js'

export interface Challenge {
  scheme: 'basic' | 'bearer'
  params: Record<string, string>
}

/**
 * Parses `WWW-Authenticate` (RFC 7235): one or more `Scheme k="v", k2=v2` challenges. Returns the
 * first Bearer or Basic one; Bearer is preferred when a registry offers both.
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined
  const challenges: { scheme: string; params: Record<string, string> }[] = []
  let i = 0
  const skip = (chars: RegExp) => {
    while (i < header.length && chars.test(header[i]!)) i++
  }
  while (i < header.length) {
    skip(/[\s,]/)
    const start = i
    while (i < header.length && !/[\s,=]/.test(header[i]!)) i++
    const token = header.slice(start, i)
    if (!token) break
    skip(/\s/)
    if (header[i] !== '=') {
      challenges.push({ scheme: token.toLowerCase(), params: {} })
      continue
    }
    i++
    skip(/\s/)
    let value = ''
    if (header[i] === '"') {
      for (i++; i < header.length && header[i] !== '"'; i++) value += header[i] === '\\' ? header[++i] ?? '' : header[i]
      i++
    } else {
      const vs = i
      while (i < header.length && header[i] !== ',') i++
      value = header.slice(vs, i).trim()
    }
    const current = challenges[challenges.length - 1]
    if (current) current.params[token.toLowerCase()] = value
  }
  const usable = challenges.filter((c): c is Challenge => c.scheme === 'basic' || c.scheme === 'bearer')
  return usable.find((c) => c.scheme === 'bearer') ?? usable[0]
}

export function basicHeader(auth: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`
}

export interface Token {
  value: string
  /** ms since epoch; a token is renewed a little before this. */
  expiresAt: number
}

// The distribution token spec says a token without expires_in lasts 60 seconds.
const DEFAULT_TOKEN_SECONDS = 60

/**
 * The Bearer token exchange (distribution token spec): GET realm?service=…&scope=…, with Basic
 * credentials when the caller has them and anonymously otherwise. The answer's `token` (or
 * `access_token`) is used as Bearer.
 */
export async function fetchToken(challenge: Challenge, scope: string, auth: RegistryAuth | undefined, http: HttpOptions, registryBase: string): Promise<Token> {
  const realm = challenge.params.realm
  if (!realm) throw new VigilError('ERR_REGISTRY_PROTOCOL', 'Bearer challenge without a realm')
  let url: URL
  try {
    url = new URL(realm)
  } catch {
    throw new VigilError('ERR_REGISTRY_PROTOCOL', `Bearer challenge realm is not a URL`)
  }
  // A registry reached over https may not send our password in clear to a plain-http realm.
  if (auth?.kind === 'basic' && url.protocol === 'http:' && registryBase.startsWith('https:') && !isLoopbackHost(url.host)) {
    throw new VigilError('ERR_REGISTRY_AUTH', `token realm ${redactUrl(url.toString())} is plain http while the registry is https; credentials not sent`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new VigilError('ERR_REGISTRY_PROTOCOL', 'Bearer challenge realm is not an http(s) URL')
  if (isSpecialHost(url.hostname)) throw new VigilError('ERR_REGISTRY_PROTOCOL', 'Bearer challenge realm is a link-local or cloud metadata address; not contacted')
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service)
  url.searchParams.append('scope', challenge.params.scope ?? scope)
  const headers: Record<string, string> = { accept: 'application/json' }
  if (auth?.kind === 'basic') headers.authorization = basicHeader(auth)
  const res = await fetchWithRetry(url.toString(), { method: 'GET', headers }, http)
  const where = redactUrl(url.toString())
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel().catch(() => undefined)
    throw new VigilError('ERR_REGISTRY_AUTH', `token service ${where} refused ${auth ? 'the credentials' : 'anonymous access'} (HTTP ${res.status})`, { details: { status: res.status } })
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined)
    const code = res.status >= 500 || res.status === 429 ? 'ERR_REGISTRY_UNAVAILABLE' : 'ERR_REGISTRY_PROTOCOL'
    throw new VigilError(code, `token service ${where} answered HTTP ${res.status}`)
  }
  let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown }
  try {
    body = (await res.json()) as typeof body
  } catch {
    throw new VigilError('ERR_REGISTRY_PROTOCOL', `token service ${where} did not answer JSON`)
  }
  const value = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : ''
  if (!value) throw new VigilError('ERR_REGISTRY_PROTOCOL', `token service ${where} answered without a token`)
  const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS
  const issued = typeof body.issued_at === 'string' ? Date.parse(body.issued_at) : NaN
  const start = Number.isFinite(issued) ? Math.min(issued, Date.now()) : Date.now()
  return { value, expiresAt: start + seconds * 1000 }
}

/** The pull scope for a repository, as the token spec writes it. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`
}
