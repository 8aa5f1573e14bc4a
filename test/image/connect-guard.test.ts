import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ScanJob } from '../../src/daemon/messages.js'
import { openAliases, runScan, type ScanContext } from '../../src/daemon/scan.js'
import { VigilError } from '../../src/errors.js'
import { openBlobStream, digestStream } from '../../src/image/digest.js'
import { hostResolver, type TargetPolicy } from '../../src/image/target-policy.js'
import { LayerPool } from '../../src/layers/pool.js'
import { openStore } from '../../src/store/env.js'
import { tempDir } from '../layers/fixtures.js'
import { makeFakeImage, startFakeRegistry, type FakeImage, type FakeRegistry } from './fake-registry.js'

/**
 * A job's target policy holds for the address each connection actually reaches (issue 16, item 2),
 * not only for the name's answer when the job starts: a name that resolves to an allowed address
 * at the check and a forbidden one at the connect (DNS rebinding) is refused, and so are the
 * registry's blob storage and token realm when they sit on a forbidden address, in the layer
 * workers too. 127.0.0.2 stands for the forbidden internal service (Linux routes all of 127/8
 * to loopback); `--registry-deny 127.0.0.2/32` forbids it.
 */

const KEY = Buffer.alloc(32, 5)
const DENY_INTERNAL: TargetPolicy = { localRoots: [], allowRegistries: [], denyRegistries: ['127.0.0.2/32'] }
let dir: string
let cleanup: () => Promise<void>
let pool: LayerPool
let image: FakeImage
let registry: FakeRegistry
let internal: FakeRegistry
const realLookup = hostResolver.lookup

beforeAll(async () => {
  ;({ dir, cleanup } = await tempDir('vigil-connect-guard-'))
  pool = new LayerPool({ threads: 1 })
  image = await makeFakeImage()
  // The same port on both addresses, so a rebound name reaches the internal one with the job's URL.
  internal = await startFakeRegistry(image, '127.0.0.2')
  registry = await startFakeRegistry(image, '127.0.0.1', Number(internal.host.split(':')[1]))
})
afterAll(async () => {
  hostResolver.lookup = realLookup
  await registry?.stop()
  await internal?.stop()
  await pool?.close()
  await cleanup?.()
})

/** Runs the job as the daemon would, with a store of its own (so no scan is answered from another's). */
async function outcome(job: ScanJob, policy: TargetPolicy): Promise<{ code: string; message: string }> {
  const store = openStore(join(dir, job.id))
  const ctx: ScanContext = { store, pool, secretKey: KEY, aliases: openAliases(store), targetPolicy: policy }
  try {
    await runScan(ctx, job, new AbortController().signal)
  } catch (err) {
    if (VigilError.is(err)) return { code: err.code, message: err.message }
    return { code: `not a VigilError: ${String(err)}`, message: '' }
  } finally {
    await store.close()
  }
  return { code: 'scanned', message: '' }
}

const requestsTo = (r: FakeRegistry) => [...r.hits.values()].reduce((a, b) => a + b, 0)
const port = () => registry.host.split(':')[1]!

describe('connections a job opens are checked at connect time', () => {
  it('a name that resolves to an allowed address at the check and a denied one at the connect is refused; the denied server sees nothing', async () => {
    const asked: string[] = []
    hostResolver.lookup = async (host) => {
      if (host !== 'rebind.test') return realLookup(host)
      asked.push(host)
      return asked.length === 1 ? ['127.0.0.1'] : ['127.0.0.2']
    }
    internal.hits.clear()
    try {
      const f = await outcome({ id: 'rebind', registry: { url: `http://rebind.test:${port()}` }, artifact: { repository: 'repo', tag: 'tag' } }, DENY_INTERNAL)
      expect(f).toMatchObject({ code: 'ERR_TARGET_INVALID', message: expect.stringMatching(/registry rebind\.test:\d+ is refused when connecting: it is on the registry deny list/) })
      expect(asked.length).toBeGreaterThanOrEqual(2)
      expect(requestsTo(internal)).toBe(0)
    } finally {
      hostResolver.lookup = realLookup
    }
  })

  it('a name that keeps an allowed answer is scanned, with one lookup per connection rather than per request', async () => {
    // `localhost` (the hosts file's 127.0.0.1): the workers resolve it themselves; the main thread's
    // lookups are counted.
    let lookups = 0
    hostResolver.lookup = async (host) => {
      if (host === 'localhost') lookups++
      return realLookup(host)
    }
    registry.hits.clear()
    const connectionsBefore = registry.connections
    try {
      expect(await outcome({ id: 'steady', target: `localhost:${port()}/repo:tag` }, DENY_INTERNAL)).toMatchObject({ code: 'scanned' })
      // The main thread's manifest (twice: the store check, then the resolve) and config GETs.
      expect(registry.hits.get('/v2/repo/manifests/tag')).toBe(2)
      expect(registry.hits.get(`/v2/repo/blobs/${image.configDigest}`)).toBe(1)
      // One when the job starts, then one per connection the main thread opened (a connection
      // carries several requests; the worker's connection resolves in the worker).
      const workerConnections = 1
      expect(lookups).toBe(1 + registry.connections - connectionsBefore - workerConnections)
    } finally {
      hostResolver.lookup = realLookup
    }
  })

  it('a layer blob redirected to storage on a denied address is refused in the layer worker; without a policy (the CLI) it is read', async () => {
    const layerPath = `/v2/repo/blobs/${image.layerDigest}`
    registry.fault = (req, res) => req.url === layerPath && (res.writeHead(307, { location: `${internal.url}${layerPath}` }).end(), true)
    internal.hits.clear()
    try {
      const f = await outcome({ id: 'storage', target: `${registry.host}/repo:tag` }, DENY_INTERNAL)
      expect(f).toMatchObject({ code: 'ERR_TARGET_INVALID', message: expect.stringMatching(/127\.0\.0\.2:\d+, where registry 127\.0\.0\.1:\d+ sent us, is refused when connecting: it is on the registry deny list/) })
      expect(requestsTo(internal)).toBe(0)
      // The CLI's locators carry no guard: the same redirect is followed to blob storage.
      const { digest } = await digestStream(openBlobStream({ kind: 'http', url: `${registry.url}${layerPath}`, headers: {} }))
      expect(digest).toBe(image.layerDigest)
      expect(requestsTo(internal)).toBe(1)
    } finally {
      registry.fault = undefined
    }
  })

  it('a token realm on a denied address is not contacted', async () => {
    registry.fault = (req, res) => req.url === '/v2/repo/manifests/tag' && (res.writeHead(401, { 'www-authenticate': `Bearer realm="${internal.url}/token",service="reg"` }).end(), true)
    internal.hits.clear()
    try {
      const f = await outcome({ id: 'realm', target: `${registry.host}/repo:tag` }, DENY_INTERNAL)
      expect(f).toMatchObject({ code: 'ERR_TARGET_INVALID', message: expect.stringMatching(/is refused when connecting/) })
      expect(requestsTo(internal)).toBe(0)
    } finally {
      registry.fault = undefined
    }
  })
})
