import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createDigestVerifier, openBlobStream } from '../../src/image/digest.js'
import { resolveImage } from '../../src/image/resolve.js'
import type { LayerRef } from '../../src/image/types.js'
import { CORPUS, SINGLE_PLATFORM_IMAGES, hasArchive, hasImage, noteCorpusMissing, readInfo, readPack } from './corpus.js'

noteCorpusMissing([...SINGLE_PLATFORM_IMAGES, 'distroless-multiarch'])

const sink = () => new Writable({ write: (_c, _e, done) => done() })

async function streamVerified(layer: LayerRef): Promise<void> {
  await pipeline(openBlobStream(layer.locator), createDigestVerifier(layer.digest, layer.size === undefined ? {} : { size: layer.size }), sink())
}

describe.each(SINGLE_PLATFORM_IMAGES)('corpus image %s', (name) => {
  it.skipIf(!hasImage(name))('resolves from its OCI layout: manifest, config, layers and diff_ids as packed', async () => {
    const pack = readPack(name)
    const image = await resolveImage(`oci:${join(CORPUS, name, 'oci')}`)
    expect(image.source).toBe('oci')
    expect(image.digest).toBe(readInfo(name).manifest_digest)
    expect(image.digest).toBe(pack.oci.manifest.digest)
    expect(image.configDigest).toBe(pack.config.digest)
    expect(image.platform).toBe(pack.platform)
    expect(image.layers.map((l) => l.diffId)).toEqual(pack.diff_ids)
    expect(image.layers.map((l) => l.digest)).toEqual(pack.layers.map((l) => l.blob.digest))
    expect(image.layers.map((l) => l.size)).toEqual(pack.layers.map((l) => l.blob.size))
    expect(image.layers.every((l) => l.compression === 'gzip' && l.locator.kind === 'file')).toBe(true)
    expect((image.config.rootfs as { diff_ids: string[] }).diff_ids).toEqual(pack.diff_ids)
    // The tag annotation selects the same image.
    const tagged = await resolveImage(`oci:${join(CORPUS, name, 'oci')}:latest`)
    expect(tagged.digest).toBe(image.digest)
  })

  it.skipIf(!hasArchive(name))('resolves from its docker-archive without extracting: byte ranges, diff_ids, a stable digest', async () => {
    const pack = readPack(name)
    const target = `docker-archive:${join(CORPUS, `${name}.docker.tar`)}`
    const image = await resolveImage(target)
    expect(image.source).toBe('docker-archive')
    expect(image.configDigest).toBe(pack.config.digest)
    expect(image.repoTags).toEqual([`vigil-corpus/${name}:latest`])
    expect(image.layers).toHaveLength(pack.layers.length)
    expect(image.layers.map((l) => l.diffId)).toEqual(pack.diff_ids)
    for (const [i, layer] of image.layers.entries()) {
      // Plain layer.tar members: the blob is the uncompressed tar, so its digest is the diff_id.
      expect(layer.compression).toBe('none')
      expect(layer.digest).toBe(pack.diff_ids[i])
      expect(layer.size).toBe(pack.layers[i]!.size)
      expect(layer.locator).toMatchObject({ kind: 'file', path: join(CORPUS, `${name}.docker.tar`) })
    }
    const again = await resolveImage(target)
    expect(again.digest).toBe(image.digest)
    expect(image.digest).not.toBe(pack.oci.manifest.digest)
  })
})

describe.skipIf(!hasArchive('debian-layered') || !hasArchive('distroless-style'))('docker-archive byte ranges', () => {
  it('stream to exactly the layer bytes (digest-verified), including a layer 200 MB into the tar', async () => {
    const small = await resolveImage(`docker-archive:${join(CORPUS, 'distroless-style.docker.tar')}`)
    await streamVerified(small.layers[0]!)
    const layered = await resolveImage(`docker-archive:${join(CORPUS, 'debian-layered.docker.tar')}`)
    const last = layered.layers[layered.layers.length - 1]!
    expect(last.locator.kind === 'file' && (last.locator.offset ?? 0) > 200_000_000).toBe(true)
    await streamVerified(last)
  })
})

describe.skipIf(!hasImage('distroless-style'))('OCI layer blobs', () => {
  it('stream through the digest verifier', async () => {
    const image = await resolveImage(`oci:${join(CORPUS, 'distroless-style', 'oci')}`)
    for (const layer of image.layers) await streamVerified(layer)
  })
})

describe.skipIf(!hasImage('distroless-multiarch'))('multi-arch image index (nested in index.json)', () => {
  const target = `oci:${join(CORPUS, 'distroless-multiarch', 'oci')}`

  it('resolves linux/amd64 and linux/arm64 to different manifests from the same index', async () => {
    const amd = await resolveImage(target, { platform: 'linux/amd64' })
    const arm = await resolveImage(target, { platform: 'linux/arm64' })
    expect(amd.platform).toBe('linux/amd64')
    expect(arm.platform).toBe('linux/arm64/v8')
    expect(amd.digest).not.toBe(arm.digest)
    expect(amd.indexDigest).toBe(arm.indexDigest)
    expect(amd.layers).toHaveLength(1)
    expect(arm.layers).toHaveLength(1)
    expect(amd.layers[0]!.diffId).not.toBe(arm.layers[0]!.diffId)
    expect(readInfo('distroless-multiarch').platforms).toBe('linux/amd64,linux/arm64/v8')
    // The amd64 image is distroless-style itself (blobs shared).
    if (hasImage('distroless-style')) expect(amd.layers.map((l) => l.diffId)).toEqual(readPack('distroless-style').diff_ids)
    expect((await resolveImage(target)).digest).toBe(amd.digest)
    expect((await resolveImage(target, { platform: 'linux/arm64/v8' })).digest).toBe(arm.digest)
    expect((await resolveImage(target, { platform: 'linux/aarch64' })).digest).toBe(arm.digest)
  })

  it('a platform the index lacks → ERR_PLATFORM_NOT_FOUND listing what it has', async () => {
    await expect(resolveImage(target, { platform: 'linux/s390x' })).rejects.toMatchObject({
      code: 'ERR_PLATFORM_NOT_FOUND',
      details: { available: ['linux/amd64', 'linux/arm64/v8'] },
    })
    await expect(resolveImage(target, { platform: 'linux/arm/v7' })).rejects.toMatchObject({ code: 'ERR_PLATFORM_NOT_FOUND' })
  })

  it.skipIf(!hasImage('distroless-style'))('a single-platform image asked for another platform → ERR_PLATFORM_NOT_FOUND', async () => {
    await expect(resolveImage(`oci:${join(CORPUS, 'distroless-style', 'oci')}`, { platform: 'linux/arm64' })).rejects.toMatchObject({ code: 'ERR_PLATFORM_NOT_FOUND' })
    if (hasArchive('distroless-style')) {
      await expect(resolveImage(`docker-archive:${join(CORPUS, 'distroless-style.docker.tar')}`, { platform: 'linux/arm64' })).rejects.toMatchObject({ code: 'ERR_PLATFORM_NOT_FOUND' })
    }
  })
})
