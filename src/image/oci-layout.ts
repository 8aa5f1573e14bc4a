import { readFile, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { VigilError } from '../errors.js'
import type { Digest } from '../types.js'
import { verifyBytes } from './digest.js'
import { buildLayers, parseImageConfig, parseJsonObject, parseManifest, type Descriptor, type ParsedManifest } from './manifest.js'
import { choosePlatform, formatPlatform, parsePlatform, platformMatches, type Platform } from './platform.js'
import type { BlobLocator, ResolvedImage, ResolveOptions } from './types.js'

const REF_NAME = 'org.opencontainers.image.ref.name'
// Nested indexes deeper than this are a loop or a hostile layout.
const MAX_INDEX_DEPTH = 4

/** A source of content-addressed blobs: an OCI layout dir, or the blobs inside a Docker ≥ 25 archive. */
export interface BlobStore {
  what: string
  /** Reads a small blob; a registry fetches `manifest`s and `blob`s from different endpoints. */
  read(digest: Digest, maxBytes: number, kind: 'manifest' | 'blob'): Promise<Uint8Array>
  locate(digest: Digest): BlobLocator
}

// Manifests and configs are small; anything bigger is not one (and would be read into memory).
export const MAX_JSON_BYTES = 8 * 1024 * 1024

export function blobPath(dir: string, digest: Digest): string {
  return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length))
}

function layoutStore(dir: string): BlobStore {
  return {
    what: `OCI layout ${dir}`,
    async read(digest, maxBytes) {
      const path = blobPath(dir, digest)
      const info = await stat(path).catch(() => undefined)
      if (!info) throw new VigilError('ERR_ARCHIVE_INVALID', `OCI layout ${dir}: blob ${digest} is missing`)
      // A FIFO or device here would hold the read (and a worker) for ever.
      if (!info.isFile()) throw new VigilError('ERR_ARCHIVE_INVALID', `OCI layout ${dir}: blob ${digest} is not a regular file`)
      if (info.size > maxBytes) throw new VigilError('ERR_MANIFEST_INVALID', `OCI layout ${dir}: blob ${digest} is ${info.size} bytes, too big for a manifest or config`)
      return readFile(path)
    },
    locate: (digest) => ({ kind: 'file', path: blobPath(dir, digest) }),
  }
}

export async function resolveOciLayout(dirArg: string, tag: string | undefined, opts: ResolveOptions, reference: string): Promise<ResolvedImage> {
  const dir = resolve(dirArg)
  const info = await stat(dir).catch(() => undefined)
  if (!info) throw new VigilError('ERR_TARGET_NOT_FOUND', `OCI layout ${dir} does not exist`)
  if (!info.isDirectory()) throw new VigilError('ERR_TARGET_INVALID', `${dir} is not a directory (an OCI layout is a directory with index.json)`)
  const indexBytes = await readFile(join(dir, 'index.json')).catch(() => undefined)
  if (!indexBytes) throw new VigilError('ERR_ARCHIVE_INVALID', `${dir} is not an OCI layout: index.json is missing`)
  const layoutFile = await readFile(join(dir, 'oci-layout'), 'utf8').catch(() => undefined)
  if (layoutFile !== undefined) {
    const version = (parseJsonObject(Buffer.from(layoutFile), `${dir}/oci-layout`).imageLayoutVersion ?? '') as string
    if (!String(version).startsWith('1.')) throw new VigilError('ERR_ARCHIVE_INVALID', `${dir}: unsupported imageLayoutVersion ${JSON.stringify(version)}`)
  }
  const store = layoutStore(dir)
  const top = parseManifest(indexBytes, undefined, `${dir}/index.json`)
  if (top.kind !== 'index') throw new VigilError('ERR_MANIFEST_INVALID', `${dir}/index.json is not an image index`)
  const picked = pickByTag(top.manifests, tag, dir)
  return resolveFromDescriptors(store, picked, opts, reference, { source: 'oci' })
}

/** Entries of index.json that carry `tag`; with no tag, all of them (a platform is chosen later). */
function pickByTag(manifests: Descriptor[], tag: string | undefined, dir: string): Descriptor[] {
  if (manifests.length === 0) throw new VigilError('ERR_TARGET_NOT_FOUND', `OCI layout ${dir} holds no images`)
  if (tag === undefined) return manifests
  const hits = manifests.filter((m) => m.annotations?.[REF_NAME] === tag)
  if (hits.length === 0) {
    const tags = manifests.map((m) => m.annotations?.[REF_NAME]).filter((t): t is string => typeof t === 'string')
    throw new VigilError('ERR_TARGET_NOT_FOUND', `OCI layout ${dir} has no image tagged "${tag}"; tags: ${tags.length ? tags.join(', ') : 'none'}`)
  }
  return hits
}

export interface DescriptorContext {
  source: ResolvedImage['source']
  repoTags?: string[]
  /** For a docker-archive: the layer blobs are uncompressed whatever the media type says. */
  layerCompression?: 'none'
}

/**
 * From candidate descriptors (index.json entries) to one image: one candidate is followed as it
 * is; several are a platform choice; an index is opened and chosen from, to MAX_INDEX_DEPTH.
 */
export async function resolveFromDescriptors(store: BlobStore, candidates: Descriptor[], opts: ResolveOptions, reference: string, ctx: DescriptorContext): Promise<ResolvedImage> {
  const want = parsePlatform(opts.platform ?? 'linux/amd64')
  let descriptor: Descriptor
  let indexDigest: Digest | undefined
  if (candidates.length === 1) descriptor = candidates[0]!
  else descriptor = (await chooseAmong(store, candidates, want)).item
  for (let depth = 0; ; depth++) {
    const bytes = await store.read(descriptor.digest, MAX_JSON_BYTES, 'manifest')
    verifyBytes(bytes, descriptor.digest, `${store.what}: manifest ${descriptor.digest}`)
    const parsed: ParsedManifest = parseManifest(bytes, descriptor.mediaType, `${store.what}: manifest ${descriptor.digest}`)
    if (parsed.kind === 'manifest') {
      return finishImage(store, descriptor, parsed, opts, want, reference, ctx, indexDigest)
    }
    if (depth >= MAX_INDEX_DEPTH) throw new VigilError('ERR_MANIFEST_INVALID', `${store.what}: image indexes nested deeper than ${MAX_INDEX_DEPTH}`)
    indexDigest = descriptor.digest
    descriptor = (await chooseAmong(store, parsed.manifests, want)).item
  }
}

// Entries without a platform whose config is read to place them; past this, a hostile index
// could make us fetch thousands of blobs.
const MAX_CONFIG_LOOKUPS = 16

/** Index entries without a `platform` (allowed by OCI) get it from their config, one at a time. */
async function chooseAmong(store: BlobStore, entries: Descriptor[], want: Platform) {
  const withPlatforms: { item: Descriptor; platform: Platform | undefined }[] = []
  let lookups = 0
  for (const d of entries) {
    const platform = d.platform ?? (lookups++ < MAX_CONFIG_LOOKUPS ? await platformFromConfig(store, d) : undefined)
    withPlatforms.push({ item: d, platform })
    if (platform && platform.os !== 'unknown' && platformMatches(want, platform)) break
  }
  return choosePlatform(withPlatforms, want, store.what)
}

async function platformFromConfig(store: BlobStore, d: Descriptor): Promise<Platform | undefined> {
  try {
    const parsed = parseManifest(await store.read(d.digest, MAX_JSON_BYTES, 'manifest'), d.mediaType, d.digest)
    if (parsed.kind !== 'manifest') return undefined
    const config = parseImageConfig(await store.read(parsed.config.digest, MAX_JSON_BYTES, 'blob'), parsed.config.digest)
    return { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }
  } catch (err) {
    // A registry outage must stay retryable rather than turn into "no such platform".
    if (VigilError.is(err) && err.retryable) throw err
    return undefined
  }
}

async function finishImage(
  store: BlobStore,
  descriptor: Descriptor,
  manifest: Extract<ParsedManifest, { kind: 'manifest' }>,
  opts: ResolveOptions,
  want: Platform,
  reference: string,
  ctx: DescriptorContext,
  indexDigest: Digest | undefined,
): Promise<ResolvedImage> {
  const what = `${store.what}: config ${manifest.config.digest}`
  const configBytes = await store.read(manifest.config.digest, MAX_JSON_BYTES, 'blob')
  verifyBytes(configBytes, manifest.config.digest, what)
  const config = parseImageConfig(configBytes, what)
  const platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }
  assertPlatform(opts, want, platform, store.what)
  const layers = buildLayers(manifest.layers, config, (d) => store.locate(d.digest), `${store.what}: manifest ${descriptor.digest}`)
  if (ctx.layerCompression) for (const l of layers) l.compression = ctx.layerCompression
  return {
    reference,
    digest: descriptor.digest,
    configDigest: manifest.config.digest,
    config: config.raw,
    platform: formatPlatform(platform),
    layers,
    source: ctx.source,
    mediaType: manifest.mediaType,
    ...(indexDigest ? { indexDigest } : {}),
    ...(ctx.repoTags ? { repoTags: ctx.repoTags } : {}),
  }
}

/**
 * A single-platform image is taken as it is unless a platform was asked for explicitly and it is
 * not that one: then the caller learns it now rather than scanning the wrong thing.
 */
export function assertPlatform(opts: ResolveOptions, want: Platform, have: Platform, where: string): void {
  if (opts.platform !== undefined && !platformMatches(want, have)) {
    throw new VigilError('ERR_PLATFORM_NOT_FOUND', `${where} has no image for ${formatPlatform(want)}; available: ${formatPlatform(have)}`, {
      details: { requested: formatPlatform(want), available: [formatPlatform(have)] },
    })
  }
}

