/**
 * Real registries for tests: Debian's docker-registry (distribution 2.8) on a free 127.0.0.1 port,
 * anonymous, with htpasswd auth, or with token auth backed by a small JWT issuer written here
 * (distribution ships none). Images are pushed with skopeo. Everything is stopped by PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const REGISTRY_BIN = '/usr/bin/docker-registry'
export const HAS_REGISTRY_TOOLS = existsSync(REGISTRY_BIN) && ['/usr/bin/skopeo', '/usr/bin/htpasswd', '/usr/bin/openssl'].every((p) => existsSync(p))

export function noteRegistryToolsMissing(): void {
  if (!HAS_REGISTRY_TOOLS) console.warn('[skip] registry tests: need /usr/bin/docker-registry, skopeo, htpasswd and openssl (apt-get install docker-registry skopeo apache2-utils openssl)')
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  return typeof addr === 'object' && addr ? addr.port : 0
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

export interface TokenRequest {
  user: string | undefined
  scope: string | undefined
  granted: boolean
}

export interface TokenIssuer {
  realm: string
  service: string
  issuer: string
  certPath: string
  /** Every token request, in order (no secrets kept). */
  log: TokenRequest[]
  /** Whether callers without credentials get pull tokens; may be flipped while running. */
  anonymousPull: boolean
  stop(): Promise<void>
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url')
}

/** libtrust's key id (what distribution matches a JWT `kid` against): base32 of 240 bits of sha256(SPKI DER), in groups of 4. */
function libtrustKeyId(spkiDer: Buffer): string {
  const bytes = createHash('sha256').update(spkiDer).digest().subarray(0, 30)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const b of bytes) bits += b.toString(2).padStart(8, '0')
  let out = ''
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5), 2)]
  return out.match(/.{4}/g)!.join(':')
}

/**
 * A token issuer for distribution's `auth.token`: GET /token?service&scope with optional Basic
 * credentials → an RS256 JWT granting the scopes asked for. Known users get pull+push; anonymous
 * callers get pull only when `anonymousPull`; a wrong password gets 401.
 */
export async function startTokenIssuer(opts: { users: Record<string, string>; anonymousPull?: boolean; expiresIn?: number }): Promise<TokenIssuer> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-token-'))
  const keyPath = join(dir, 'token.key')
  const certPath = join(dir, 'token.crt')
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=vigil-test-token'])
  const key = createPrivateKey(await readFile(keyPath))
  const cert = new X509Certificate(await readFile(certPath))
  const kid = libtrustKeyId(cert.publicKey.export({ type: 'spki', format: 'der' }))
  const service = 'vigil-test-registry'
  const issuer = 'vigil-test-issuer'
  const log: TokenRequest[] = []
  let issuerState: TokenIssuer | undefined
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const scope = url.searchParams.getAll('scope').join(' ') || undefined
    const creds = parseBasic(req)
    const known = creds !== undefined && opts.users[creds.user] === creds.password
    const granted = known || (creds === undefined && issuerState?.anonymousPull === true)
    log.push({ user: creds?.user, scope, granted })
    if (!granted) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}')
      return
    }
    const now = Math.floor(Date.now() / 1000)
    const access = (url.searchParams.getAll('scope') ?? []).flatMap((s) => {
      const [type, name, actions] = s.split(':')
      if (!type || !name || !actions) return []
      const allowed = actions.split(',').filter((a) => a === 'pull' || (known && a === 'push'))
      return [{ type, name, actions: allowed }]
    })
    const header = { typ: 'JWT', alg: 'RS256', kid }
    const claims = { iss: issuer, sub: creds?.user ?? '', aud: service, exp: now + (opts.expiresIn ?? 300), nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
    const token = `${signingInput}.${b64url(sign('sha256', Buffer.from(signingInput), key))}`
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: opts.expiresIn ?? 300, issued_at: new Date(now * 1000).toISOString() }))
  })
  const port = await listen(server)
  issuerState = {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    log,
    anonymousPull: opts.anonymousPull ?? false,
    async stop() {
      await closeServer(server)
      await rm(dir, { recursive: true, force: true })
    },
  }
  return issuerState
}

function parseBasic(req: IncomingMessage): { user: string; password: string } | undefined {
  const h = req.headers.authorization
  if (!h?.startsWith('Basic ')) return undefined
  const text = Buffer.from(h.slice(6), 'base64').toString('utf8')
  const colon = text.indexOf(':')
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) }
}

export interface RegistryServer {
  /** `127.0.0.1:PORT`, for references and skopeo. */
  host: string
  url: string
  pid: number
  stop(): Promise<void>
}

export type RegistryAuthMode = { kind: 'none' } | { kind: 'htpasswd'; users: Record<string, string> } | { kind: 'token'; issuer: TokenIssuer }

export async function startRegistry(auth: RegistryAuthMode = { kind: 'none' }): Promise<RegistryServer> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-registry-'))
  const port = await freePort()
  let authYaml = ''
  if (auth.kind === 'htpasswd') {
    const lines: string[] = []
    for (const [user, password] of Object.entries(auth.users)) lines.push((await run('htpasswd', ['-Bbn', user, password])).stdout.trim())
    await writeFile(join(dir, 'htpasswd'), `${lines.join('\n')}\n`)
    authYaml = `auth:\n  htpasswd:\n    realm: vigil-test\n    path: ${join(dir, 'htpasswd')}\n`
  } else if (auth.kind === 'token') {
    const t = auth.issuer
    authYaml = `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${t.certPath}\n`
  }
  const config = [
    'version: 0.1',
    'log:\n  level: error\n  accesslog:\n    disabled: true',
    `storage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true`,
    `http:\n  addr: 127.0.0.1:${port}\n  secret: ${randomBytes(16).toString('hex')}`,
    authYaml,
  ].join('\n')
  await writeFile(join(dir, 'config.yml'), config)
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const stop = async () => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM')
    await exited
    await rm(dir, { recursive: true, force: true })
  }
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`)
    const ok = await fetch(`${url}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false)
    if (ok) break
    if (i > 100) {
      await stop()
      throw new Error(`docker-registry did not start on ${url}: ${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return { host: `127.0.0.1:${port}`, url, pid: child.pid!, stop }
}

/** `skopeo copy` into the registry; `all` copies every platform of an index. */
export async function pushImage(source: string, registry: RegistryServer, repoTag: string, opts: { creds?: string; all?: boolean } = {}): Promise<void> {
  const args = ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false']
  if (opts.creds) args.push('--dest-creds', opts.creds)
  if (opts.all) args.push('--all')
  args.push(source, `docker://${registry.host}/${repoTag}`)
  await run('skopeo', args, { maxBuffer: 16 * 1024 * 1024 })
}

export interface ProxiedRequest {
  method: string
  path: string
  /** The Authorization scheme sent, never its value. */
  authorization: 'none' | 'basic' | 'bearer' | 'other'
  status: number
}

export interface CountingProxy {
  host: string
  log: ProxiedRequest[]
  stop(): Promise<void>
}

/** A loopback HTTP proxy in front of a registry that records each request's auth scheme. */
export async function startCountingProxy(target: RegistryServer): Promise<CountingProxy> {
  const [targetHost, targetPort] = target.host.split(':') as [string, string]
  const log: ProxiedRequest[] = []
  const server = createServer((req, res) => {
    const h = req.headers.authorization
    const authorization = !h ? 'none' : h.startsWith('Basic ') ? 'basic' : h.startsWith('Bearer ') ? 'bearer' : 'other'
    const entry: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', authorization, status: 0 }
    log.push(entry)
    const upstream = httpRequest({ host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers }, (up) => {
      entry.status = up.statusCode ?? 0
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', () => res.writeHead(502).end())
    req.pipe(upstream)
  })
  const port = await listen(server)
  return { host: `127.0.0.1:${port}`, log, stop: () => closeServer(server) }
}
