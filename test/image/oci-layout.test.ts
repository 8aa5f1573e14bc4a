import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveImage } from '../../src/image/resolve.js'
import { CORPUS, hasImage } from './corpus.js'
import { sha } from './tarfixture.js'

/** Broken copies of the distroless-style layout (copied, never edited in place: corpus blobs are hard links). */
describe.skipIf(!hasImage('distroless-style'))('broken OCI layouts fail with stable codes', () => {
  let dir: string
  let n = 0
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-oci-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function copy(): Promise<{ root: string; index: { manifests: { digest: string }[] }; manifestPath: string; manifest: Record<string, any> }> {
    const root = join(dir, `l${n++}`)
    await cp(join(CORPUS, 'distroless-style', 'oci'), root, { recursive: true })
    const index = JSON.parse(await readFile(join(root, 'index.json'), 'utf8'))
    const manifestPath = join(root, 'blobs', 'sha256', index.manifests[0].digest.slice(7))
    return { root, index, manifestPath, manifest: JSON.parse(await readFile(manifestPath, 'utf8')) }
  }

  /** Writes a new manifest blob under its own digest and points index.json at it. */
  async function replaceManifest(root: string, manifest: unknown): Promise<void> {
    const bytes = Buffer.from(JSON.stringify(manifest))
    await writeFile(join(root, 'blobs', 'sha256', sha(bytes).slice(7)), bytes)
    const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(bytes), size: bytes.length }] }
    await writeFile(join(root, 'index.json'), JSON.stringify(index))
  }

  it('a missing directory → ERR_TARGET_NOT_FOUND; a file → ERR_TARGET_INVALID; no index.json → ERR_ARCHIVE_INVALID', async () => {
    await expect(resolveImage(`oci:${join(dir, 'absent')}`)).rejects.toMatchObject({ code: 'ERR_TARGET_NOT_FOUND' })
    await writeFile(join(dir, 'file'), 'x')
    await expect(resolveImage(`oci:${join(dir, 'file')}`)).rejects.toMatchObject({ code: 'ERR_TARGET_INVALID' })
    await expect(resolveImage(`oci:${dir}`)).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
  })

  it('an unknown tag → ERR_TARGET_NOT_FOUND naming the tags there are', async () => {
    const { root } = await copy()
    await expect(resolveImage(`oci:${root}:v9`)).rejects.toMatchObject({ code: 'ERR_TARGET_NOT_FOUND', message: expect.stringContaining('tags: latest') })
  })

  it('index.json that is not JSON, or not an index → ERR_MANIFEST_INVALID', async () => {
    const { root } = await copy()
    await writeFile(join(root, 'index.json'), '{"schemaVersion":2,')
    await expect(resolveImage(`oci:${root}`)).rejects.toMatchObject({ code: 'ERR_MANIFEST_INVALID' })
    await writeFile(join(root, 'index.json'), '{"schemaVersion":2,"manifests":[{"digest":"sha256:12","size":1}]}')
    await expect(resolveImage(`oci:${root}`)).rejects.toMatchObject({ code: 'ERR_MANIFEST_INVALID' })
  })

  it('a tampered config blob → ERR_DIGEST_MISMATCH; a missing manifest blob → ERR_ARCHIVE_INVALID', async () => {
    const { root, manifest, manifestPath } = await copy()
    const configPath = join(root, 'blobs', 'sha256', manifest.config.digest.slice(7))
    await rm(configPath)
    await writeFile(configPath, (await readFile(join(CORPUS, 'distroless-style', 'oci', 'blobs', 'sha256', manifest.config.digest.slice(7)), 'utf8')).replace('amd64', 'arm64'))
    await expect(resolveImage(`oci:${root}`)).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' })
    await rename(manifestPath, `${manifestPath}.gone`)
    await expect(resolveImage(`oci:${root}`)).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
  })

  it('layers that do not match the config diff_ids count → ERR_MANIFEST_INVALID; schema 1 → ERR_MEDIA_TYPE_UNSUPPORTED', async () => {
    const { root, manifest } = await copy()
    await replaceManifest(root, { ...manifest, layers: [...manifest.layers, ...manifest.layers] })
    await expect(resolveImage(`oci:${root}`)).rejects.toMatchObject({ code: 'ERR_MANIFEST_INVALID', message: expect.stringContaining('diff_ids') })
    await replaceManifest(root, { schemaVersion: 1, name: 'x', fsLayers: [] })
    await expect(resolveImage(`oci:${root}`)).rejects.toMatchObject({ code: 'ERR_MEDIA_TYPE_UNSUPPORTED' })
  })

  it('an index.json entry without a platform is placed by its config', async () => {
    const { root, index } = await copy()
    await writeFile(join(root, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...index.manifests[0], platform: undefined }, { ...index.manifests[0], platform: undefined }] }))
    expect((await resolveImage(`oci:${root}`, { platform: 'linux/amd64' })).platform).toBe('linux/amd64')
    await expect(resolveImage(`oci:${root}`, { platform: 'linux/arm64' })).rejects.toMatchObject({ code: 'ERR_PLATFORM_NOT_FOUND' })
  })
})
