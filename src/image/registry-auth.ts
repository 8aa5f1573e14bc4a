import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
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

/**
 * Where `docker login` and `podman login` keep credentials, in the order they are consulted:
 * `$REGISTRY_AUTH_FILE`, podman's `$XDG_RUNTIME_DIR/containers/auth.json`, then Docker's
 * `$DOCKER_CONFIG/config.json` (`~/.docker/config.json`). The first file that knows the registry
 * answers.
 */
export function credentialFiles(env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME || homedir()
  return [
    env.REGISTRY_AUTH_FILE,
    env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json') : undefined,
    join(env.DOCKER_CONFIG || join(home, '.docker'), 'config.json'),
  ].filter((p): p is string => !!p)
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>
  credsStore?: string
  credHelpers?: Record<string, string>
}

const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'docker.io'])
/** The server URL Docker files and helpers use for Docker Hub. */
const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/'

/** `https://host:port/v1/` → `host:port`; Docker Hub's aliases → one name. */
function serverKey(server: string): string {
  const host = server.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase()
  return DOCKER_HUB_HOSTS.has(host) ? 'index.docker.io' : host
}

/**
 * Credentials for `registry` (`host[:port]` as the API is reached) from the standard files, as
 * Docker resolves them: `credHelpers[host]`, else `credsStore`, through the
 * `docker-credential-NAME get` protocol; else the file's own `auths` entry (`auth` = base64
 * `user:password`, or `username` + `password`). Undefined when nothing knows the registry, or a
 * helper named there is not installed.
 */
export async function credentialsFromFiles(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<RegistryAuth | undefined> {
  const key = serverKey(registry)
  for (const file of credentialFiles(env)) {
    const config = readDockerConfig(file)
    if (!config) continue
    const entry = Object.entries(config.auths ?? {}).find(([server]) => serverKey(server) === key)
    const helper = Object.entries(config.credHelpers ?? {}).find(([server]) => serverKey(server) === key)?.[1] ?? config.credsStore
    if (helper) {
      const fromHelper = await credentialHelperGet(helper, entry?.[0] ?? (key === 'index.docker.io' ? DOCKER_HUB_SERVER : registry), env)
      if (fromHelper) return fromHelper
    }
    const inline = entry ? inlineCredentials(file, entry[0], entry[1]) : undefined
    if (inline) return inline
  }
  return undefined
}

function readDockerConfig(file: string): DockerConfig | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  try {
    const doc = JSON.parse(text) as unknown
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as DockerConfig) : undefined
  } catch (err) {
    throw new VigilError('ERR_CONFIG', `registry credentials file ${file} is not JSON: ${(err as Error).message}`)
  }
}

function inlineCredentials(file: string, server: string, entry: { auth?: string; username?: string; password?: string }): RegistryAuth | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8')
    const colon = text.indexOf(':')
    if (colon <= 0) throw new VigilError('ERR_CONFIG', `${file}: auths["${server}"].auth is not base64 of user:password`)
    return { kind: 'basic', username: text.slice(0, colon), password: text.slice(colon + 1) }
  }
  if (typeof entry.username === 'string' && entry.username !== '' && typeof entry.password === 'string') {
    return { kind: 'basic', username: entry.username, password: entry.password }
  }
  return undefined
}

const HELPER_TIMEOUT_MS = 30_000

/**
 * `docker-credential-NAME get` with the server URL on stdin, answering
 * `{"ServerURL", "Username", "Secret"}`. A helper that does not know the server says so and exits
 * non-zero ("credentials not found"): that is no credentials, not an error. An identity token
 * (Username `<token>`) is an OAuth refresh token this client cannot use; it is passed over.
 */
export async function credentialHelperGet(name: string, server: string, env: NodeJS.ProcessEnv = process.env): Promise<RegistryAuth | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new VigilError('ERR_CONFIG', `credential helper name "${name}" is not a plain program name`)
  const program = `docker-credential-${name}`
  let stdout: string
  try {
    stdout = await new Promise<string>((resolve, reject) => {
      const child = execFile(program, ['get'], { env, timeout: HELPER_TIMEOUT_MS, maxBuffer: 1024 * 1024 }, (err, out, errText) => {
        // Helpers write their error to stdout (docker-credential-helpers' protocol), some to stderr.
        if (err) reject(Object.assign(err, { said: `${String(out).trim()} ${String(errText).trim()}`.trim() }))
        else resolve(String(out))
      })
      child.stdin?.on('error', () => undefined)
      child.stdin?.end(server)
    })
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { said?: string; killed?: boolean }
    if (e.code === 'ENOENT') return undefined
    const said = e.said ?? ''
    if (/credentials not found/i.test(said)) return undefined
    throw new VigilError('ERR_REGISTRY_AUTH', `${program} get failed for ${server}: ${e.killed ? `no answer in ${HELPER_TIMEOUT_MS / 1000} s` : said || e.message}`)
  }
  let answer: { Username?: unknown; Secret?: unknown }
  try {
    answer = JSON.parse(stdout) as typeof answer
  } catch {
    throw new VigilError('ERR_REGISTRY_AUTH', `${program} get answered something other than JSON for ${server}`)
  }
  if (typeof answer.Username !== 'string' || typeof answer.Secret !== 'string' || answer.Username === '' || answer.Username === '<token>') return undefined
  return { kind: 'basic', username: answer.Username, password: answer.Secret }
}
