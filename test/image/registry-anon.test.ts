import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveImage } from '../../src/image/resolve.js'
import { HAS_REGISTRY_TOOLS, noteRegistryToolsMissing, pushImage, startCountingProxy, startRegistry, type CountingProxy, type RegistryServer } from '../helpers/registry.js'
import { CORPUS, hasImage, readPack } from './corpus.js'
import { streamAllLayers } from './stream.js'

/** docker-registry without auth: credentials given to Vigil are never sent, since nothing asks. */
const READY = HAS_REGISTRY_TOOLS && hasImage('distroless-style')
noteRegistryToolsMissing()

describe.skipIf(!READY)('anonymous registry', () => {
  let registry: RegistryServer
  let proxy: CountingProxy

  beforeAll(async () => {
    registry = await startRegistry({ kind: 'none' })
    proxy = await startCountingProxy(registry)
    await pushImage(`oci:${join(CORPUS, 'distroless-style', 'oci')}:latest`, registry, 'open/distroless:1')
  })
  afterAll(async () => {
    await proxy?.stop()
    await registry?.stop()
  })

  it('pulls without credentials and never sends the ones it was given', async () => {
    const image = await resolveImage(`${proxy.host}/open/distroless:1`, { auth: { kind: 'basic', username: 'u', password: 'p' } })
    const pack = readPack('distroless-style')
    expect(image.digest).toBe(pack.oci.manifest.digest)
    expect(image.layers.map((l) => l.diffId)).toEqual(pack.diff_ids)
    expect(image.layers[0]!.locator).toMatchObject({ kind: 'http', headers: {}, insecure: true })
    expect(await streamAllLayers(image)).toBe(pack.layers[0]!.blob.size)
    expect(proxy.log.length).toBeGreaterThanOrEqual(3)
    expect(proxy.log.every((r) => r.authorization === 'none' && r.status === 200)).toBe(true)
  })

  it('a registry reference written with http:// is used as given', async () => {
    const image = await resolveImage(`http://${registry.host}/open/distroless:1`)
    expect(image.reference).toBe(`http://${registry.host}/open/distroless:1`)
    expect(image.layers[0]!.locator).toMatchObject({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v2\/open\/distroless\/blobs\/sha256:/) })
  })
})
