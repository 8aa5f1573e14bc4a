/**
 * deploy/compose/register-scanner.mjs against a loopback stand-in for Harbor's API v2.0 (the
 * routes and bodies of goharbor/harbor api/v2.0/swagger.yaml: /ping, /scanners, /scanners/ping,
 * /scanners/{id}): registers, updates instead of duplicating, makes the scanner the default,
 * and fails with a clear message and exit code when Harbor is away or refuses.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { ROOT } from '../helpers/shared.js'

const SCRIPT = join(ROOT, 'deploy', 'compose', 'register-scanner.mjs')
const TOKEN = 'token-' + randomUUID()
const PASSWORD = 'Harbor12345'

interface Registration { uuid: string; name: string; url: string; auth: string; access_credential: string; use_internal_addr: boolean; is_default: boolean }
interface Seen { method: string; path: string; authorization: string | undefined; body: Record<string, unknown> | undefined }

let server: Server
let base: string
let scanners: Registration[]
let seen: Seen[]
/** The adapter URL the stand-in can "reach" when Harbor pings a scanner. */
let reachable: string

async function body(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> : undefined
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://harbor')
    const b = await body(req)
    seen.push({ method: req.method!, path: url.pathname, authorization: req.headers.authorization, body: b })
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value))
    if (url.pathname === '/api/v2.0/ping') return res.writeHead(200, { 'content-type': 'text/plain' }).end('Pong')
    if (req.headers.authorization !== 'Basic ' + Buffer.from(`admin:${PASSWORD}`).toString('base64')) return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized' }] })
    const id = /^\/api\/v2\.0\/scanners\/([0-9a-f-]{36})$/.exec(url.pathname)?.[1]
    if (req.method === 'POST' && url.pathname === '/api/v2.0/scanners/ping') {
      if (b?.url !== reachable || b?.access_credential !== TOKEN || b?.auth !== 'Bearer') return json(400, { errors: [{ code: 'BAD_REQUEST', message: `failed to ping scanner at ${String(b?.url)}` }] })
      return res.writeHead(200).end()
    }
    if (req.method === 'GET' && url.pathname === '/api/v2.0/scanners') return json(200, scanners)
    if (req.method === 'POST' && url.pathname === '/api/v2.0/scanners') {
      const uuid = randomUUID()
      scanners.push({ ...(b as unknown as Registration), uuid, is_default: false })
      return res.writeHead(201, { location: `/api/v2.0/scanners/${uuid}` }).end()
    }
    const existing = scanners.find((s) => s.uuid === id)
    if (existing && req.method === 'PUT') return Object.assign(existing, b), res.writeHead(200).end()
    if (existing && req.method === 'PATCH') {
      for (const s of scanners) s.is_default = s === existing && b?.is_default === true
      return res.writeHead(200).end()
    }
    return json(404, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => { await new Promise((resolve) => server.close(resolve)) })

beforeEach(() => {
  scanners = [{ uuid: randomUUID(), name: 'Trivy', url: 'http://trivy-adapter:8080', auth: '', access_credential: '', use_internal_addr: true, is_default: true }]
  seen = []
  reachable = 'http://vigil:8080'
})

async function run(env: Record<string, string>): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, [SCRIPT], {
    env: { PATH: process.env.PATH ?? '', HARBOR_URL: base, HARBOR_PASSWORD: PASSWORD, VIGIL_API_TOKEN: TOKEN, SCANNER_URL: 'http://vigil:8080', HARBOR_WAIT_TRIES: '2', HARBOR_WAIT_MS: '10', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)))
  return { code, out }
}

describe('register-scanner.mjs', () => {
  test('registers Vigil with its bearer token and internal registry address, checks the adapter first, and makes it the default', async () => {
    const { code, out } = await run({})
    expect(code, out).toBe(0)
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'GET /api/v2.0/ping', 'POST /api/v2.0/scanners/ping', 'GET /api/v2.0/scanners', 'POST /api/v2.0/scanners', `PATCH /api/v2.0/scanners/${scanners[1]!.uuid}`,
    ])
    expect(scanners).toHaveLength(2)
    expect(scanners[1]).toMatchObject({ name: 'Vigil', url: 'http://vigil:8080', auth: 'Bearer', access_credential: TOKEN, use_internal_addr: true, is_default: true })
    expect(scanners[0]!.is_default).toBe(false)
    expect(out).toContain(`registered scanner "Vigil" (${scanners[1]!.uuid})`)
    expect(out).not.toContain(TOKEN)
  })

  test('a second run updates the same registration instead of adding another', async () => {
    expect((await run({})).code).toBe(0)
    const first = scanners[1]!.uuid
    seen = []
    const { code, out } = await run({ SCANNER_URL: 'http://vigil:8080' })
    expect(code, out).toBe(0)
    expect(scanners.map((s) => s.name)).toEqual(['Trivy', 'Vigil'])
    expect(seen.map((s) => `${s.method} ${s.path}`)).toContain(`PUT /api/v2.0/scanners/${first}`)
    expect(seen.some((s) => s.method === 'POST' && s.path === '/api/v2.0/scanners')).toBe(false)
    expect(out).toContain(`updated scanner "Vigil" (${first})`)
  })

  test('SCANNER_DEFAULT=false leaves Harbor\'s default scanner alone; SCANNER_INTERNAL_ADDR=false asks for Harbor\'s external URL', async () => {
    expect((await run({ SCANNER_DEFAULT: 'false', SCANNER_INTERNAL_ADDR: 'false' })).code).toBe(0)
    expect(scanners.find((s) => s.name === 'Vigil')!.use_internal_addr).toBe(false)
    expect(scanners.find((s) => s.name === 'Trivy')!.is_default).toBe(true)
    expect(seen.some((s) => s.method === 'PATCH')).toBe(false)
  })

  test('when Harbor cannot reach the adapter, nothing is registered and Harbor\'s reason is shown (exit 3)', async () => {
    reachable = 'http://elsewhere:8080'
    const { code, out } = await run({})
    expect(code).toBe(3)
    expect(out).toContain('POST /scanners/ping answered 400: BAD_REQUEST: failed to ping scanner at http://vigil:8080')
    expect(scanners).toHaveLength(1)
    expect(out).not.toContain(TOKEN)
  })

  test('a wrong admin password is Harbor\'s 401, exit 3', async () => {
    const { code, out } = await run({ HARBOR_PASSWORD: 'wrong' })
    expect(code).toBe(3)
    expect(out).toContain('answered 401')
  })

  test('missing settings exit 2 before any request', async () => {
    for (const env of [{ HARBOR_PASSWORD: '' }, { VIGIL_API_TOKEN: '' }] as Record<string, string>[]) {
      const { code, out } = await run(env)
      expect(code).toBe(2)
      expect(out).toMatch(/is not set/)
    }
    expect(seen).toEqual([])
  })

  test('a Harbor that does not answer ends with exit 3 and a hint about the network, after the configured tries', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const { code, out } = await run({ HARBOR_URL: `http://127.0.0.1:${port}` })
    expect(code).toBe(3)
    expect(out).toContain(`Harbor does not answer at http://127.0.0.1:${port}`)
    expect(out).toContain('Harbor\'s network')
  })
})
