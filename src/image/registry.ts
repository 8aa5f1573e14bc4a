import { VigilError } from '../errors.js'
import { asDigest, isDigest, type Digest } from '../types.js'
import { sha256Digest, verifyBytes } from './digest.js'
import { fetchWithRetry, redactUrl, type HttpOptions } from './http.js'
import { MANIFEST_ACCEPT } from './manifest.js'
import { MAX_JSON_BYTES, resolveFromDescriptors, type BlobStore } from './oci-layout.js'
import { basicHeader, fetchToken, parseChallenge, pullScope, type Challenge, type Token } from './registry-auth.js'
import { formatTarget, isLoopbackHost, type RegistryTarget } from './reference.js'
import type { BlobLocator, RegistryAuth, ResolvedImage, ResolveOptions } from './types.js'

// A cached token is renewed this long before it expires, so a request never carries a dying one.
const TOKEN_MARGIN_MS = 15_000

export interface RegistryClientOptions {
  auth?: RegistryAuth
  /** Forces the scheme; otherwise http for loopback hosts or `insecure`, https for the rest. */
  scheme?: 'http' | 'https'
  insecure?: boolean
  http?: HttpOptions
}

/** http when asked for (URL scheme or `insecure`) or when the host is loopback; https otherwise. */
export function registryBaseUrl(registry: string, opts: { scheme?: 'http' | 'https'; insecure?: boolean }): string {
  const scheme = opts.scheme ?? (opts.insecure || isLoopbackHost(registry) ? 'http' : 'https')
  return `${scheme}://${registry}`
}

/**
 * One repository on one registry, pull only. Requests go out without credentials; the first 401's
 * WWW-Authenticate decides the answer: Basic gets the Basic credentials, Bearer gets a token from
 * the realm (with the Basic credentials if any, anonymous otherwise), and a Bearer token handed in
 * (Harbor) is sent as given. After that the negotiated header goes with every request to this
 * repository. Secrets appear in no message and no log line.
 */
export class RegistryClient {
  readonly base: string
  private challenge: Challenge | undefined
  private token: Token | undefined
  private authorization: string | undefined
  /** Requests sent, by whether they carried credentials (for tests and metrics; no secrets). */
  readonly stats = { requests: 0, withAuthorization: 0, tokenFetches: 0 }

  constructor(
    readonly registry: string,
    readonly repository: string,
    private readonly opts: RegistryClientOptions = {},
  ) {
    this.base = registryBaseUrl(registry, opts)
  }

  private get http(): HttpOptions {
    return this.opts.http ?? {}
  }

  private async currentAuthorization(): Promise<string | undefined> {
    if (this.token && this.challenge && this.token.expiresAt - TOKEN_MARGIN_MS < Date.now()) await this.negotiate(this.challenge)
    return this.authorization
  }

  private async send(url: string, method: string, headers: Record<string, string>): Promise<Response> {
    const authorization = await this.currentAuthorization()
    this.stats.requests++
    if (authorization) this.stats.withAuthorization++
    return fetchWithRetry(url, { method, headers: authorization ? { ...headers, authorization } : headers }, this.http)
  }

  /** A request with the auth dance: on 401, answer the challenge and try once more. */
  async request(path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Response> {
    const url = `${this.base}${path}`
    let res = await this.send(url, method, headers)
    if (res.status === 401) {
      await res.body?.cancel().catch(() => undefined)
      await this.negotiate(parseChallenge(res.headers.get('www-authenticate')))
      res = await this.send(url, method, headers)
      if (res.status === 401) {
        await res.body?.cancel().catch(() => undefined)
        throw this.refused(res.status, url)
      }
    }
    if (res.status === 403) {
      await res.body?.cancel().catch(() => undefined)
      throw this.refused(res.status, url)
    }
    return res
  }

  private refused(status: number, url: string): VigilError {
    const who = this.opts.auth ? `the ${this.opts.auth.kind} credentials` : 'anonymous access'
    return new VigilError('ERR_REGISTRY_AUTH', `${redactUrl(url)}: HTTP ${status}, the registry refused ${who}`, { details: { status } })
  }

  private async negotiate(challenge: Challenge | undefined): Promise<void> {
    const auth = this.opts.auth
    this.challenge = challenge
    this.token = undefined
    if (!challenge) throw new VigilError('ERR_REGISTRY_AUTH', `${this.registry}: HTTP 401 without a Basic or Bearer challenge`)
    if (challenge.scheme === 'basic') {
      if (auth?.kind !== 'basic') {
        throw new VigilError('ERR_REGISTRY_AUTH', `${this.registry} asks for Basic credentials and ${auth ? 'only a bearer token was given' : 'none were given'}`)
      }
      this.authorization = basicHeader(auth)
      return
    }
    if (auth?.kind === 'bearer') {
      this.authorization = `Bearer ${auth.token}`
      return
    }
    this.stats.tokenFetches++
    this.token = await fetchToken(challenge, pullScope(this.repository), auth, this.http, this.base)
    this.authorization = `Bearer ${this.token.value}`
  }

  /** GET a manifest by tag or digest; verifies its bytes against the digest (and Docker-Content-Digest). */
  async getManifest(reference: string): Promise<{ bytes: Uint8Array; mediaType: string; digest: Digest }> {
    const path = `/v2/${this.repository}/manifests/${reference}`
    const res = await this.request(path, 'GET', { accept: MANIFEST_ACCEPT })
    const bytes = await this.readBody(res, path, `manifest ${reference}`)
    const digest = sha256Digest(bytes)
    const what = `${this.registry}/${this.repository} manifest ${reference}`
    if (isDigest(reference)) verifyBytes(bytes, reference, what)
    const header = res.headers.get('docker-content-digest')
    if (header && header.startsWith('sha256:') && header !== digest) {
      throw new VigilError('ERR_DIGEST_MISMATCH', `${what}: the registry says ${header}, the bytes are ${digest}`, { details: { expected: header, actual: digest } })
    }
    return { bytes, mediaType: res.headers.get('content-type') ?? '', digest }
  }

  async getBlob(digest: Digest, maxBytes: number): Promise<Uint8Array> {
    const path = `/v2/${this.repository}/blobs/${digest}`
    const res = await this.request(path)
    const bytes = await this.readBody(res, path, `blob ${digest}`, maxBytes)
    verifyBytes(bytes, digest, `${this.registry}/${this.repository} blob ${digest}`)
    return bytes
  }

  private async readBody(res: Response, path: string, what: string, maxBytes = MAX_JSON_BYTES): Promise<Uint8Array> {
    const where = `${this.registry}/${this.repository}: ${what}`
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined)
      if (res.status === 404) throw new VigilError('ERR_TARGET_NOT_FOUND', `${where} not found`)
      if (res.status >= 500 || res.status === 429) throw new VigilError('ERR_REGISTRY_UNAVAILABLE', `${where}: HTTP ${res.status} after retries`)
      throw new VigilError('ERR_REGISTRY_PROTOCOL', `${where}: unexpected HTTP ${res.status} for ${path}`)
    }
    const length = Number(res.headers.get('content-length') ?? NaN)
    if (length > maxBytes) {
      await res.body?.cancel().catch(() => undefined)
      throw new VigilError('ERR_MANIFEST_INVALID', `${where} is ${length} bytes, more than the ${maxBytes} allowed`)
    }
    const chunks: Uint8Array[] = []
    let total = 0
    try {
      for await (const chunk of res.body ?? []) {
        total += chunk.length
        if (total > maxBytes) throw new VigilError('ERR_MANIFEST_INVALID', `${where} is more than the ${maxBytes} bytes allowed`)
        chunks.push(chunk)
      }
    } catch (err) {
      if (VigilError.is(err)) throw err
      throw new VigilError('ERR_REGISTRY_UNAVAILABLE', `${where}: the response broke off (${(err as Error).message})`, { cause: err })
    }
    return Buffer.concat(chunks)
  }

  /** A locator a worker can open alone: the URL plus the Authorization negotiated so far. */
  async blobLocator(digest: Digest): Promise<BlobLocator> {
    const authorization = await this.currentAuthorization()
    return {
      kind: 'http',
      url: `${this.base}/v2/${this.repository}/blobs/${digest}`,
      headers: authorization ? { authorization } : {},
      ...(this.base.startsWith('http:') ? { insecure: true } : {}),
      ...(this.http.guard ? { guard: this.http.guard } : {}),
    }
  }
}

/**
 * Resolves a registry image: the manifest by tag or digest (anonymous first), an index's platform
 * choice, the config blob, and a locator per layer. Blob locators carry the Authorization in force
 * now; see refreshBlobLocator for tokens that expire before a worker gets to a layer.
 */
export async function resolveRegistry(target: RegistryTarget, opts: ResolveOptions, reference: string = formatTarget(target)): Promise<ResolvedImage> {
  const client = new RegistryClient(target.registry, target.repository, clientOptions(target.scheme, opts))
  const top = await client.getManifest(target.digest ?? target.tag ?? 'latest')
  const cache = new Map<string, Uint8Array>([[top.digest, top.bytes]])
  const store: BlobStore = {
    what: `${target.registry}/${target.repository}`,
    read: async (digest, maxBytes, kind) => {
      const cached = cache.get(digest)
      if (cached) return cached
      const bytes = kind === 'manifest' ? (await client.getManifest(digest)).bytes : await client.getBlob(digest, maxBytes)
      cache.set(digest, bytes)
      return bytes
    },
    // Filled in below, once every request (and so the final token) is done.
    locate: (digest) => ({ kind: 'http', url: `${client.base}/v2/${target.repository}/blobs/${digest}`, headers: {} }),
  }
  const image = await resolveFromDescriptors(store, [{ digest: top.digest, mediaType: top.mediaType.split(';')[0]!.trim(), size: top.bytes.length }], opts, reference, {
    source: 'registry',
  })
  for (const layer of image.layers) layer.locator = await client.blobLocator(layer.digest)
  return image
}

function clientOptions(scheme: 'http' | 'https' | undefined, opts: ResolveOptions): RegistryClientOptions {
  return {
    ...(opts.auth ? { auth: opts.auth } : {}),
    ...(scheme ? { scheme } : {}),
    ...(opts.insecure ? { insecure: true } : {}),
    http: {
      ...(opts.retry ? { retry: opts.retry } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.guard ? { guard: opts.guard } : {}),
    },
  }
}

/**
 * Renews the Authorization in an http locator (main thread; a worker reports ERR_REGISTRY_AUTH
 * with `details.reauth` when a token has expired). It repeats the challenge dance with a HEAD on
 * the blob itself, so the new token has that repository's pull scope.
 */
export async function refreshBlobLocator(locator: BlobLocator, opts: Pick<ResolveOptions, 'auth' | 'retry' | 'timeoutMs' | 'signal'>): Promise<BlobLocator> {
  if (locator.kind !== 'http') return locator
  const url = new URL(locator.url)
  const m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname)
  if (!m) throw new VigilError('ERR_REGISTRY_PROTOCOL', `not a registry blob URL: ${redactUrl(locator.url)}`)
  const client = new RegistryClient(url.host, m[1]!, clientOptions(url.protocol === 'http:' ? 'http' : 'https', { ...opts, ...(locator.guard ? { guard: locator.guard } : {}) }))
  const res = await client.request(url.pathname, 'HEAD')
  await res.body?.cancel().catch(() => undefined)
  if (res.status === 404) throw new VigilError('ERR_TARGET_NOT_FOUND', `${redactUrl(locator.url)}: blob not found`)
  return client.blobLocator(asDigest(m[2]!))
}
