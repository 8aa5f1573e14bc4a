import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveImage } from '../../src/image/resolve.js'
import { HAS_REGISTRY_TOOLS, noteRegistryToolsMissing, pushImage, startCountingProxy, startRegistry, type CountingProxy, type RegistryServer } from '../helpers/registry.js'
import { CORPUS, hasImage, readPack } from './corpus.js'
import { streamAllLayers } from './stream.js'

/** docker-registry with htpasswd (Basic) auth, behind a counting proxy. */
const READY = HAS_REGISTRY_TOOLS && hasImage('distroless-style') && hasImage('distroless-multiarch')
noteRegistryToolsMissing()
if (HAS_REGISTRY_TOOLS && !READY) console.warn('[skip] registry.test.ts: corpus images distroless-style and distroless-multiarch are needed')

const USER = { username: 'alice', password: 'correct-horse' }
const CREDS = `${USER.username}:${USER.password}`
const auth = { kind: 'basic' as const, ...USER }

describe.skipIf(!READY)('registry with htpasswd auth', () => {
  let registry: RegistryServer
  let proxy: CountingProxy

  beforeAll(async () => {
    registry = await startRegistry({ kind: 'htpasswd', users: { [USER.username]: USER.password } })
    proxy = await startCountingProxy(registry)
    await Promise.all([
      pushImage(`oci:${join(CORPUS, 'distroless-style', 'oci')}:latest`, registry, 'vigil/distroless:1', { creds: CREDS }),
      pushImage(`oci:${join(CORPUS, 'distroless-multiarch', 'oci')}:latest`, registry, 'vigil/multi:1', { creds: CREDS, all: true }),
    ])
  })
  afterAll(async () => {
    await proxy?.stop()
    await registry?.stop()
  })

  it('resolves by tag, answering the Basic challenge only after it came', async () => {
    proxy.log.length = 0
    const image = await resolveImage(`${proxy.host}/vigil/distroless:1`, { auth })
    const pack = readPack('distroless-style')
    expect(image.source).toBe('registry')
    expect(image.digest).toBe(pack.oci.manifest.digest)
    expect(image.configDigest).toBe(pack.config.digest)
    expect(image.layers.map((l) => l.diffId)).toEqual(pack.diff_ids)
    expect(image.layers.map((l) => l.digest)).toEqual(pack.layers.map((l) => l.blob.digest))
    expect(proxy.log[0]).toMatchObject({ authorization: 'none', status: 401 })
    expect(proxy.log.slice(1).every((r) => r.authorization === 'basic' && r.status === 200)).toBe(true)
    expect(proxy.log.filter((r) => r.authorization === 'none')).toHaveLength(1)
    for (const layer of image.layers) expect(layer.locator).toMatchObject({ kind: 'http', headers: { authorization: expect.stringMatching(/^Basic /) } })
  })

  it('resolves by digest and streams every layer blob through the digest verifier', async () => {
    const digest = readPack('distroless-style').oci.manifest.digest
    const image = await resolveImage(`${registry.host}/vigil/distroless@${digest}`, { auth })
    expect(image.digest).toBe(digest)
    const bytes = await streamAllLayers(image)
    expect(bytes).toBe(readPack('distroless-style').layers.reduce((n, l) => n + l.blob.size, 0))
  })

  it('resolves both platforms of a pushed multi-arch index', async () => {
    const amd = await resolveImage(`${registry.host}/vigil/multi:1`, { auth, platform: 'linux/amd64' })
    const arm = await resolveImage(`${registry.host}/vigil/multi:1`, { auth, platform: 'linux/arm64' })
    const local = await resolveImage(`oci:${join(CORPUS, 'distroless-multiarch', 'oci')}`, { platform: 'linux/arm64' })
    expect(amd.platform).toBe('linux/amd64')
    expect(arm.platform).toBe('linux/arm64/v8')
    expect(arm.digest).toBe(local.digest)
    expect(amd.digest).not.toBe(arm.digest)
    expect(amd.indexDigest).toBeDefined()
    expect(amd.indexDigest).toBe(arm.indexDigest)
    await streamAllLayers(arm)
    await expect(resolveImage(`${registry.host}/vigil/multi:1`, { auth, platform: 'linux/ppc64le' })).rejects.toMatchObject({ code: 'ERR_PLATFORM_NOT_FOUND' })
  })

  it('a wrong password, no credentials, or a bearer token for a Basic challenge → ERR_REGISTRY_AUTH', async () => {
    const ref = `${registry.host}/vigil/distroless:1`
    await expect(resolveImage(ref, { auth: { ...auth, password: 'wrong' } })).rejects.toMatchObject({ code: 'ERR_REGISTRY_AUTH' })
    await expect(resolveImage(ref)).rejects.toMatchObject({ code: 'ERR_REGISTRY_AUTH' })
    await expect(resolveImage(ref, { auth: { kind: 'bearer', token: 'abc' } })).rejects.toMatchObject({ code: 'ERR_REGISTRY_AUTH' })
    const err = (await resolveImage(ref, { auth: { ...auth, password: 'wrong' } }).catch((e: unknown) => e)) as Error
    expect(String(err.message)).not.toContain('wrong')
  })

  it('an unknown tag or repository → ERR_TARGET_NOT_FOUND', async () => {
    await expect(resolveImage(`${registry.host}/vigil/distroless:nope`, { auth })).rejects.toMatchObject({ code: 'ERR_TARGET_NOT_FOUND' })
    await expect(resolveImage(`${registry.host}/vigil/absent:1`, { auth })).rejects.toMatchObject({ code: 'ERR_TARGET_NOT_FOUND' })
  })
})
