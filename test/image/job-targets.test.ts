import { execFileSync } from 'node:child_process'
import { mkdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseDaemonConfig } from '../../src/daemon/config.js'
import { openAliases, runScan, type ScanContext } from '../../src/daemon/scan.js'
import type { ScanJob } from '../../src/daemon/messages.js'
import { VigilError } from '../../src/errors.js'
import { resolveImage } from '../../src/image/resolve.js'
import { checkRegistryHost, type TargetPolicy } from '../../src/image/target-policy.js'
import { analyzeLayer } from '../../src/layers/analyze.js'
import type { LayerPool } from '../../src/layers/pool.js'
import { bindingForRegistry, encryptSecret } from '../../src/secrets.js'
import { openStore, type Store } from '../../src/store/env.js'
import { asDigest } from '../../src/types.js'
import { statusProbe, tempDir } from '../layers/fixtures.js'
import { makeFakeImage, startFakeRegistry, type FakeImage, type FakeRegistry } from './fake-registry.js'

/**
 * What a job may name (issue 16, item 2): local paths only below the target roots and only
 * regular files and directories; no link-local or metadata registry; redirects only within the
 * origin or, for a blob, to its storage without credentials; no response bytes in errors; and
 * credential envelopes that open only for the registry and repository they were made for.
 */

const KEY = Buffer.alloc(32, 3)
let dir: string
let cleanup: () => Promise<void>
let store: Store
let image: FakeImage
let registry: FakeRegistry
let other: FakeRegistry

beforeAll(async () => {
  ;({ dir, cleanup } = await tempDir('vigil-job-targets-'))
  store = openStore(join(dir, 'store'))
  image = await makeFakeImage()
  registry = await startFakeRegistry(image)
  other = await startFakeRegistry(image)
})
afterAll(async () => {
  await registry?.stop()
  await other?.stop()
  await store?.close()
  await cleanup?.()
})

/** The daemon's scan context; no layer is reached in these tests, so the pool is never used. */
function context(policy?: TargetPolicy): ScanContext {
  return { store, pool: {} as LayerPool, secretKey: KEY, aliases: openAliases(store), ...(policy ? { targetPolicy: policy } : {}) }
}

async function failure(job: ScanJob, ctx = context()): Promise<{ code: string; message: string }> {
  try {
    await runScan(ctx, job, new AbortController().signal)
  } catch (err) {
    if (VigilError.is(err)) return { code: err.code, message: err.message }
    return { code: `not a VigilError: ${String(err)}`, message: '' }
  }
  return { code: 'resolved', message: '' }
}

const requestsTo = (r: FakeRegistry) => [...r.hits.values()].reduce((a, b) => a + b, 0)

describe('local targets in jobs', () => {
  it('are refused by default, with one answer whether or not the path exists', async () => {
    const missing = await failure({ id: 'a', target: `oci:${join(dir, 'no-such-dir')}` })
    const exists = await failure({ id: 'b', target: 'oci:/etc' })
    const file = await failure({ id: 'c', target: 'docker-archive:/etc/hostname' })
    expect(missing.code).toBe('ERR_TARGET_INVALID')
    expect(exists).toEqual(missing)
    expect(file).toEqual(missing)
  })

  it('below a root they are read; a symlink out of the root, /proc, a FIFO and a device are refused', async () => {
    const root = join(dir, 'root')
    mkdirSync(root)
    symlinkSync('/etc', join(root, 'escape'))
    execFileSync('mkfifo', [join(root, 'pipe.tar')])
    const policy: TargetPolicy = { localRoots: [root, '/'], allowRegistries: [], denyRegistries: [] }
    const rootOnly: TargetPolicy = { localRoots: [root], allowRegistries: [], denyRegistries: [] }
    expect(await failure({ id: 'd', target: `oci:${join(root, 'escape')}` }, context(rootOnly))).toMatchObject({ code: 'ERR_TARGET_INVALID', message: expect.stringMatching(/below a configured target root/) })
    expect(await failure({ id: 'e', target: 'docker-archive:/proc/self/environ' }, context(policy))).toMatchObject({ code: 'ERR_TARGET_INVALID' })
    expect(await failure({ id: 'f', target: 'docker-archive:/dev/zero' }, context(policy))).toMatchObject({ code: 'ERR_TARGET_INVALID' })
    expect(await failure({ id: 'g', target: `docker-archive:${join(root, 'pipe.tar')}` }, context(rootOnly))).toMatchObject({ code: 'ERR_TARGET_INVALID', message: expect.stringMatching(/not a regular file/) })
    expect(await failure({ id: 'h', target: `oci:${join(root, 'nothing')}` }, context(rootOnly))).toMatchObject({ code: 'ERR_TARGET_NOT_FOUND' })
  })

  it('a FIFO is refused at once outside the daemon too (CLI docker-archive, a layer blob), never waited on', async () => {
    const fifo = join(dir, 'cli.fifo')
    execFileSync('mkfifo', [fifo])
    await expect(resolveImage(`docker-archive:${fifo}`)).rejects.toMatchObject({ code: 'ERR_TARGET_INVALID' })
    const layer = { digest: asDigest(`sha256:${'0'.repeat(64)}`), mediaType: 'application/vnd.oci.image.layer.v1.tar', compression: 'none' as const, locator: { kind: 'file' as const, path: fifo } }
    await expect(analyzeLayer(layer, [statusProbe])).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
  })
})

describe('registry hosts in jobs', () => {
  const none: TargetPolicy = { localRoots: [], allowRegistries: [], denyRegistries: [] }

  it('link-local and cloud metadata addresses are refused by default, before any connection', async () => {
    for (const host of ['169.254.169.254', '169.254.170.2', '[fe80::1]:5000', 'metadata.google.internal', '100.100.100.200', '[fd00:ec2::254]']) {
      expect(await failure({ id: 'm', target: `${host}/latest/meta-data:x` }), host).toMatchObject({ code: 'ERR_TARGET_INVALID', message: expect.stringMatching(/link-local and cloud metadata/) })
    }
    await expect(checkRegistryHost('169.254.169.254', { ...none, allowRegistries: ['169.254.169.254'] })).resolves.toBeUndefined()
  })

  it('an allow list admits only what it names (host, host:port, *.domain, CIDR); a deny list refuses', async () => {
    const allow = { ...none, allowRegistries: ['reg.example', '*.corp.example', 'mirror.example:5000', '10.0.0.0/8'] }
    for (const ok of ['reg.example', 'a.b.corp.example', 'mirror.example:5000', '10.1.2.3:443']) await expect(checkRegistryHost(ok, allow), ok).resolves.toBeUndefined()
    for (const bad of ['other.example', 'corp.example.evil', 'mirror.example:5001', '11.0.0.1']) await expect(checkRegistryHost(bad, allow), bad).rejects.toMatchObject({ code: 'ERR_TARGET_INVALID' })
    await expect(checkRegistryHost('127.0.0.1:5000', { ...none, denyRegistries: ['127.0.0.0/8'] })).rejects.toMatchObject({ code: 'ERR_TARGET_INVALID' })
    expect(await failure({ id: 'deny', target: `${registry.host}/repo:tag` }, context({ ...none, denyRegistries: [registry.host] }))).toMatchObject({ code: 'ERR_TARGET_INVALID' })
  })
})

describe('the policy comes from flags or the environment, validated once', () => {
  it('--target-roots, --registry-allow and --registry-deny win over VIGIL_TARGET_ROOTS, VIGIL_REGISTRY_ALLOW and VIGIL_REGISTRY_DENY', () => {
    const env = { VIGIL_TARGET_ROOTS: '/srv/images, /data/oci', VIGIL_REGISTRY_ALLOW: 'reg.example,10.0.0.0/8', VIGIL_REGISTRY_DENY: 'bad.example' }
    expect(parseDaemonConfig({ data: dir }, env).targetPolicy).toEqual({ localRoots: ['/srv/images', '/data/oci'], allowRegistries: ['reg.example', '10.0.0.0/8'], denyRegistries: ['bad.example'] })
    expect(parseDaemonConfig({ data: dir, 'target-roots': '/only', 'registry-allow': 'a.example', 'registry-deny': '' }, env).targetPolicy).toEqual({ localRoots: ['/only'], allowRegistries: ['a.example'], denyRegistries: [] })
    expect(parseDaemonConfig({ data: dir }, {}).targetPolicy).toEqual({ localRoots: [], allowRegistries: [], denyRegistries: [] })
    expect(() => parseDaemonConfig({ data: dir, 'target-roots': 'relative/dir' }, {})).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }))
  })
})

describe('redirects and response bytes', () => {
  it('a manifest redirect to another origin is not followed; the other server sees nothing', async () => {
    const before = requestsTo(other)
    registry.fault = (req, res) => req.url === '/v2/repo/manifests/tag' && (res.writeHead(302, { location: `${other.url}/v2/repo/manifests/tag` }).end(), true)
    try {
      expect(await failure({ id: 'r1', target: `${registry.host}/repo:tag` })).toMatchObject({ code: 'ERR_REGISTRY_PROTOCOL', message: expect.stringMatching(/another origin/) })
      expect(requestsTo(other)).toBe(before)
    } finally {
      registry.fault = undefined
    }
  })

  it('a redirect to a metadata address is never followed', async () => {
    registry.fault = (req, res) => req.url === '/v2/repo/manifests/tag' && (res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/' }).end(), true)
    try {
      expect(await failure({ id: 'r2', target: `${registry.host}/repo:tag` })).toMatchObject({ code: 'ERR_REGISTRY_PROTOCOL', message: expect.stringMatching(/link-local or cloud metadata/) })
    } finally {
      registry.fault = undefined
    }
  })

  it('no byte of a response body reaches the error', async () => {
    registry.fault = (req, res) => req.url === '/v2/repo/manifests/tag' && (res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end('SECRET-INSTANCE-ROLE-CREDENTIALS'), true)
    try {
      const f = await failure({ id: 'r3', target: `${registry.host}/repo:tag` })
      expect(f.code).toBe('ERR_MANIFEST_INVALID')
      expect(f.message).not.toMatch(/SECRET|INSTANCE|ROLE|CRED/)
    } finally {
      registry.fault = undefined
    }
  })
})

describe('credential envelopes', () => {
  const basic = `Basic ${Buffer.from('robot$scan:hunter2-password').toString('base64')}`

  it('an envelope replayed with another registry.url or repository does not open, and the password goes nowhere', async () => {
    const sealed = encryptSecret(basic, KEY, bindingForRegistry(registry.url, 'repo'))
    // The other server asks for Basic credentials: it would get them if the envelope opened.
    other.fault = (req, res) => req.headers.authorization === undefined && (res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end(), true)
    other.authHeaders.length = 0
    try {
      const replayed = await failure({ id: 'x1', registry: { url: other.url, authorization: sealed }, artifact: { repository: 'repo', digest: image.manifestDigest } })
      expect(replayed).toMatchObject({ code: 'ERR_SECRET' })
      const otherRepo = await failure({ id: 'x2', registry: { url: registry.url, authorization: sealed }, artifact: { repository: 'other-repo', tag: 'tag' } })
      expect(otherRepo).toMatchObject({ code: 'ERR_SECRET' })
      expect(other.authHeaders.filter((h) => h !== undefined)).toEqual([])
    } finally {
      other.fault = undefined
    }
  })

  it('opens for the registry and repository it was made for', async () => {
    registry.fault = (req, res) => req.headers.authorization !== basic && (res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end(), true)
    registry.authHeaders.length = 0
    try {
      const sealed = encryptSecret(basic, KEY, bindingForRegistry(registry.url, 'repo'))
      const job: ScanJob = { id: 'ok', registry: { url: registry.url, authorization: sealed }, artifact: { repository: 'repo', digest: image.manifestDigest } }
      // The pool is a stand-in: reaching the layers at all means the manifest was fetched with the password.
      const f = await failure(job)
      expect(registry.authHeaders).toContain(basic)
      expect(f.code).not.toBe('ERR_SECRET')
    } finally {
      registry.fault = undefined
    }
  })

  it('a v1 envelope (bound to nothing) is refused for registry credentials', async () => {
    const unbound = encryptSecret(basic, KEY)
    expect(await failure({ id: 'v1', registry: { url: registry.url, authorization: unbound }, artifact: { repository: 'repo', digest: image.manifestDigest } })).toMatchObject({ code: 'ERR_SECRET', message: expect.stringMatching(/bound to nothing/) })
  })
})

