import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { resolve } from 'node:path'
import { VigilError } from '../errors.js'
import { isDigest, type Digest } from '../types.js'
import { digestStream, openBlobStream, sha256Digest, verifyBytes } from './digest.js'
import { MEDIA, parseImageConfig, parseManifest, type Descriptor } from './manifest.js'
import { assertPlatform, resolveFromDescriptors, type BlobStore } from './oci-layout.js'
import { formatPlatform, parsePlatform } from './platform.js'
import { findFile, indexTar, type TarMember } from './tar-index.js'
import type { BlobLocator, LayerCompression, LayerRef, ResolvedImage, ResolveOptions } from './types.js'

const MAX_JSON_BYTES = 8 * 1024 * 1024

interface ArchiveEntry {
  Config: string
  RepoTags?: string[]
  Layers: string[]
}

function archiveError(path: string, why: string): VigilError {
  return new VigilError('ERR_ARCHIVE_INVALID', `docker-archive ${path}: ${why}`)
}

async function openArchive(path: string): Promise<FileHandle> {
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait (a thread-pool thread, for ever)
    // for a writer; a regular file ignores the flag.
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
    const info = await fh.stat()
    if (!info.isFile()) {
      await fh.close()
      if (info.isDirectory()) throw new VigilError('ERR_TARGET_INVALID', `${path} is a directory; docker-archive: needs a tar file (use oci:DIR for a layout)`)
      throw new VigilError('ERR_TARGET_INVALID', `${path} is not a regular file (a FIFO, socket or device); docker-archive: needs a tar file`)
    }
    return fh
  } catch (err) {
    if (VigilError.is(err)) throw err
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new VigilError('ERR_TARGET_NOT_FOUND', `docker-archive ${path} does not exist`)
    throw new VigilError('ERR_TARGET_INVALID', `docker-archive ${path} cannot be opened: ${(err as Error).message}`)
  }
}

async function readMember(fh: FileHandle, m: TarMember, path: string): Promise<Buffer> {
  if (m.size > MAX_JSON_BYTES) throw archiveError(path, `${m.name} is ${m.size} bytes, too big for a manifest or config`)
  const buf = Buffer.alloc(m.size)
  await fh.read(buf, 0, m.size, m.offset)
  return buf
}

/** The first bytes decide: docker-archive layers are plain tars, but nothing stops a gzip one. */
async function sniffCompression(fh: FileHandle, m: TarMember): Promise<LayerCompression> {
  const head = Buffer.alloc(4)
  await fh.read(head, 0, 4, m.offset)
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd'
  return 'none'
}

const LAYER_MEDIA: Record<LayerCompression, string> = {
  none: MEDIA.ociLayerTar,
  auto: MEDIA.ociLayerTar,
  gzip: `${MEDIA.ociLayerTar}+gzip`,
  zstd: `${MEDIA.ociLayerTar}+zstd`,
}

/**
 * A docker-archive (`docker save`): the legacy layout (`manifest.json`, `<hex>.json` config,
 * `<id>/layer.tar`) or Docker ≥ 25's (the same `manifest.json` beside an OCI layout in the tar).
 * Nothing is extracted: layers become byte ranges of the tar file.
 */
export async function resolveDockerArchive(pathArg: string, opts: ResolveOptions, reference: string): Promise<ResolvedImage> {
  const path = resolve(pathArg)
  const fh = await openArchive(path)
  try {
    const members = await indexTar(fh, path)
    const manifestMember = members.get('manifest.json')
    if (!manifestMember) throw archiveError(path, 'no manifest.json (not a docker save archive?)')
    const entries = parseArchiveManifest(await readMember(fh, manifestMember, path), path)
    // docker-archive holds one platform per image; several images → the first, as `docker load` lists them.
    const entry = entries[0]!
    const repoTags = entry.RepoTags?.filter((t) => typeof t === 'string')
    if (members.has('index.json') && entry.Layers.every((l) => l.startsWith('blobs/'))) {
      return await resolveOciStyle(fh, members, path, opts, reference, repoTags)
    }
    return await resolveLegacy(fh, members, entry, path, opts, reference, repoTags)
  } finally {
    await fh.close()
  }
}

function parseArchiveManifest(bytes: Buffer, path: string): ArchiveEntry[] {
  let doc: unknown
  try {
    doc = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw archiveError(path, 'manifest.json is not JSON')
  }
  if (!Array.isArray(doc) || doc.length === 0) throw archiveError(path, 'manifest.json is not a non-empty array')
  return doc.map((e, i) => {
    const v = e as Partial<ArchiveEntry>
    if (typeof v?.Config !== 'string' || !Array.isArray(v.Layers) || !v.Layers.every((l) => typeof l === 'string')) {
      throw archiveError(path, `manifest.json[${i}] needs Config (string) and Layers (strings)`)
    }
    return { Config: v.Config, Layers: v.Layers, ...(Array.isArray(v.RepoTags) ? { RepoTags: v.RepoTags } : {}) }
  })
}

async function resolveLegacy(
  fh: FileHandle,
  members: Map<string, TarMember>,
  entry: ArchiveEntry,
  path: string,
  opts: ResolveOptions,
  reference: string,
  repoTags: string[] | undefined,
): Promise<ResolvedImage> {
  const configBytes = await readMember(fh, findFile(members, entry.Config, path), path)
  const configDigest = sha256Digest(configBytes)
  const named = /(?:^|\/)([0-9a-f]{64})\.json$/.exec(entry.Config)?.[1]
  if (named) verifyBytes(configBytes, `sha256:${named}`, `docker-archive ${path}: config ${entry.Config}`)
  const config = parseImageConfig(configBytes, `docker-archive ${path}: config`)
  const platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }
  assertPlatform(opts, parsePlatform(opts.platform ?? 'linux/amd64'), platform, `docker-archive ${path}`)
  if (entry.Layers.length !== config.diffIds.length) {
    throw archiveError(path, `${entry.Layers.length} layers but the config lists ${config.diffIds.length} diff_ids`)
  }
  const layers: LayerRef[] = []
  for (const [i, name] of entry.Layers.entries()) {
    const m = findFile(members, name, path)
    const diffId = config.diffIds[i]!
    const compression = await sniffCompression(fh, m)
    const locator: BlobLocator = { kind: 'file', path, offset: m.offset, length: m.size }
    // A plain layer.tar's bytes are the uncompressed tar, so its blob digest is its diff_id (the
    // pipeline verifies it while streaming); a compressed one has to be hashed to be named.
    const digest = compression === 'none' ? diffId : (await digestStream(openBlobStream(locator))).digest
    layers.push({ digest, diffId, mediaType: LAYER_MEDIA[compression], size: m.size, compression, locator })
  }
  return {
    reference,
    digest: syntheticManifestDigest(configDigest, configBytes.length, layers),
    configDigest,
    config: config.raw,
    platform: formatPlatform(platform),
    layers,
    source: 'docker-archive',
    mediaType: MEDIA.ociManifest,
    ...(repoTags ? { repoTags } : {}),
  }
}

/**
 * A legacy archive has no manifest, so its identity is the sha256 of the OCI manifest that
 * describes it, written in one fixed form: keys in the order below, no whitespace, layers in
 * archive order as {mediaType, digest, size} (the plain-tar media type, digest = diff_id for
 * uncompressed layers). The same archive always gives the same digest; an OCI copy of the image
 * (gzip layers) has a different one, as it would in a registry.
 */
export function syntheticManifestDigest(configDigest: Digest, configSize: number, layers: LayerRef[]): Digest {
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: configSize },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  }
  return sha256Digest(JSON.stringify(manifest))
}

/** Docker ≥ 25: index.json + blobs/sha256/* inside the tar; the manifest digest is the real one. */
async function resolveOciStyle(
  fh: FileHandle,
  members: Map<string, TarMember>,
  path: string,
  opts: ResolveOptions,
  reference: string,
  repoTags: string[] | undefined,
): Promise<ResolvedImage> {
  const memberOf = (digest: Digest) => {
    const m = members.get(`blobs/sha256/${digest.slice(7)}`)
    if (!m) throw archiveError(path, `blob ${digest} is missing`)
    return findFile(members, m.name, path)
  }
  const store: BlobStore = {
    what: `docker-archive ${path}`,
    read: async (digest, maxBytes) => {
      const m = memberOf(digest)
      if (m.size > maxBytes) throw archiveError(path, `blob ${digest} is too big for a manifest or config`)
      return readMember(fh, m, path)
    },
    locate: (digest) => {
      const m = memberOf(digest)
      return { kind: 'file', path, offset: m.offset, length: m.size }
    },
  }
  const index = parseManifest(await readMember(fh, findFile(members, 'index.json', path), path), undefined, `docker-archive ${path}: index.json`)
  if (index.kind !== 'index') throw archiveError(path, 'index.json is not an image index')
  const candidates: Descriptor[] = index.manifests.filter((d) => isDigest(d.digest))
  const image = await resolveFromDescriptors(store, candidates, opts, reference, { source: 'docker-archive', ...(repoTags ? { repoTags } : {}) })
  for (const layer of image.layers) {
    if (layer.locator.kind !== 'file') continue
    layer.compression = await sniffCompression(fh, { name: '', type: '0', offset: layer.locator.offset ?? 0, size: layer.size ?? 0, linkName: '' })
  }
  return image
}
