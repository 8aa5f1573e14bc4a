import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDigestVerifier, openBlobStream } from '../../src/image/digest.js'
import { resolveImage } from '../../src/image/resolve.js'
import type { LayerRef } from '../../src/image/types.js'
import { SHARED } from '../helpers/shared.js'
import { CORPUS, hasArchive } from './corpus.js'
import { makeLegacyArchive, makeTar, sha } from './tarfixture.js'

const run = promisify(execFile)
const OCI_PACK = join(SHARED, 'tools', 'corpus', 'oci-pack.py')
const HAS_OCI_PACK = existsSync(OCI_PACK)
if (!HAS_OCI_PACK) console.warn(`[skip] Docker >= 25 archive test: ${OCI_PACK} is absent`)

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-archive-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function write(name: string, bytes: Buffer | string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, bytes)
  return path
}

async function streamVerified(layer: LayerRef): Promise<Buffer> {
  const chunks: Buffer[] = []
  const sink = new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) })
  await pipeline(openBlobStream(layer.locator), createDigestVerifier(layer.digest), sink)
  return Buffer.concat(chunks)
}

describe.skipIf(!HAS_OCI_PACK)('Docker >= 25 archive (OCI layout inside the tar)', () => {
  it('resolves through index.json with the real manifest digest, and layers are byte ranges', async () => {
    const root = join(dir, 'd25')
    await mkdir(join(root, 'l1', 'etc'), { recursive: true })
    await mkdir(join(root, 'l2'), { recursive: true })
    await writeFile(join(root, 'l1', 'etc', 'os-release'), 'ID=test\n')
    await writeFile(join(root, 'l2', 'b.txt'), 'second layer\n')
    const tar = join(root, 'img.tar')
    const oci = join(root, 'oci')
    await run('python3', [OCI_PACK, 'build', '--quiet', '--tag', 'demo:1', '--oci', oci, '--docker-archive', tar, '--docker-style', 'oci', '--layer', join(root, 'l1'), '--layer', join(root, 'l2')])
    const image = await resolveImage(`docker-archive:${tar}`)
    const fromOci = await resolveImage(`oci:${oci}`)
    const inner = JSON.parse((await run('tar', ['xOf', tar, 'index.json'])).stdout) as { manifests: { digest: string }[] }
    expect(image.digest).toBe(inner.manifests[0]!.digest)
    expect(image.repoTags).toEqual(['demo:1'])
    expect(image.layers).toHaveLength(2)
    expect(image.layers.map((l) => l.diffId)).toEqual(fromOci.layers.map((l) => l.diffId))
    for (const layer of image.layers) {
      expect(layer.compression).toBe('none')
      expect(layer.locator.kind).toBe('file')
      const bytes = await streamVerified(layer)
      expect(sha(bytes)).toBe(layer.diffId)
    }
  })
})

describe('legacy docker-archive edge cases', () => {
  it('follows a duplicate layer written as a symlink to the first copy', async () => {
    const layer = await makeTar([{ name: 'etc/a', data: 'same layer twice\n' }])
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer), sha(layer)] } }))
    const a = `${'a'.repeat(64)}/layer.tar`
    const b = `${'b'.repeat(64)}/layer.tar`
    const tar = await makeTar([
      { name: a, data: layer },
      { name: b, symlink: `../${'a'.repeat(64)}/layer.tar` },
      { name: `${sha(config).slice(7)}.json`, data: config },
      { name: 'manifest.json', data: JSON.stringify([{ Config: `${sha(config).slice(7)}.json`, Layers: [a, b] }]) },
    ])
    const image = await resolveImage(`docker-archive:${await write('symlink.tar', tar)}`)
    expect(image.layers).toHaveLength(2)
    expect(image.layers[1]!.locator).toEqual(image.layers[0]!.locator)
    expect(await streamVerified(image.layers[1]!)).toEqual(layer)
  })

  it('names a gzip layer.tar by the digest of its compressed bytes, found by hashing its range', async () => {
    const layer = await makeTar([{ name: 'etc/b', data: 'compressed\n'.repeat(100) }])
    const { tar } = await makeLegacyArchive({ layers: [layer], gzipLayers: true })
    const image = await resolveImage(`docker-archive:${await write('gzip.tar', tar)}`)
    const only = image.layers[0]!
    expect(only.compression).toBe('gzip')
    expect(only.diffId).toBe(sha(layer))
    expect(only.digest).not.toBe(only.diffId)
    await streamVerified(only)
  })

  it('reads member names longer than 100 bytes (ustar prefix and PAX path)', async () => {
    const layer = await makeTar([{ name: 'x', data: 'long names\n' }])
    const { tar } = await makeLegacyArchive({ layers: [layer], layerNames: [`${'d'.repeat(120)}/${'e'.repeat(150)}/layer.tar`] })
    const image = await resolveImage(`docker-archive:${await write('long.tar', tar)}`)
    expect(await streamVerified(image.layers[0]!)).toEqual(layer)
  })

  it('gives the same synthetic digest for the same archive, a different one for another', async () => {
    const layer = await makeTar([{ name: 'a', data: '1' }])
    const other = await makeTar([{ name: 'a', data: '2' }])
    const p1 = await write('same1.tar', (await makeLegacyArchive({ layers: [layer] })).tar)
    const p2 = await write('same2.tar', (await makeLegacyArchive({ layers: [layer] })).tar)
    const p3 = await write('other.tar', (await makeLegacyArchive({ layers: [other] })).tar)
    const [d1, d2, d3] = await Promise.all([p1, p2, p3].map(async (p) => (await resolveImage(`docker-archive:${p}`)).digest))
    expect(d1).toBe(d2)
    expect(d3).not.toBe(d1)
  })
})

describe('broken docker-archives fail with stable codes', () => {
  const resolveFile = async (name: string, bytes: Buffer | string) => resolveImage(`docker-archive:${await write(name, bytes)}`)

  it('missing file → ERR_TARGET_NOT_FOUND; a directory → ERR_TARGET_INVALID', async () => {
    await expect(resolveImage(`docker-archive:${join(dir, 'nope.tar')}`)).rejects.toMatchObject({ code: 'ERR_TARGET_NOT_FOUND' })
    await expect(resolveImage(`docker-archive:${dir}`)).rejects.toMatchObject({ code: 'ERR_TARGET_INVALID' })
  })

  it('not a tar, an empty file, no manifest.json, manifest.json not JSON → ERR_ARCHIVE_INVALID', async () => {
    await expect(resolveFile('random.tar', Buffer.alloc(4096, 7))).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
    await expect(resolveFile('empty.tar', '')).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
    await expect(resolveFile('nomanifest.tar', await makeTar([{ name: 'a', data: 'x' }]))).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
    await expect(resolveFile('badjson.tar', await makeTar([{ name: 'manifest.json', data: '[{' }]))).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
    await expect(resolveFile('shape.tar', await makeTar([{ name: 'manifest.json', data: '[{"Config":1}]' }]))).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
  })

  it('a layer named in manifest.json but absent, or a diff_ids count that differs → ERR_ARCHIVE_INVALID', async () => {
    const layer = await makeTar([{ name: 'a', data: 'x' }])
    const manifest = JSON.stringify([{ Config: 'cfg.json', Layers: ['missing/layer.tar'] }])
    const config = JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { diff_ids: [sha(layer)] } })
    await expect(resolveFile('missing-layer.tar', await makeTar([{ name: 'cfg.json', data: config }, { name: 'manifest.json', data: manifest }]))).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
    const counted = await makeLegacyArchive({ layers: [layer], diffIds: [sha(layer), sha(layer)] })
    await expect(resolveFile('count.tar', counted.tar)).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
  })

  it('a config whose bytes do not match its <hex>.json name → ERR_DIGEST_MISMATCH; config not JSON → ERR_MANIFEST_INVALID', async () => {
    const layer = await makeTar([{ name: 'a', data: 'x' }])
    const wrong = await makeLegacyArchive({ layers: [layer], configName: `${'0'.repeat(64)}.json` })
    await expect(resolveFile('cfgname.tar', wrong.tar)).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' })
    const bad = await makeTar([{ name: 'cfg.json', data: 'nope' }, { name: 'manifest.json', data: JSON.stringify([{ Config: 'cfg.json', Layers: [] }]) }])
    await expect(resolveFile('cfgjson.tar', bad)).rejects.toMatchObject({ code: 'ERR_MANIFEST_INVALID' })
  })

  it.skipIf(!hasArchive('distroless-style'))('a truncated corpus archive → ERR_ARCHIVE_INVALID', async () => {
    const whole = await readFile(join(CORPUS, 'distroless-style.docker.tar'))
    await expect(resolveFile('truncated.tar', whole.subarray(0, 1_000_000))).rejects.toMatchObject({ code: 'ERR_ARCHIVE_INVALID' })
  })
})
