import { VigilError } from '../errors.js'
import { isDigest, type Digest } from '../types.js'
import { readPlatform, type Platform } from './platform.js'
import type { BlobLocator, LayerCompression, LayerRef } from './types.js'

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const

/** Sent as Accept on manifest requests: both image indexes and both single-image manifests. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ')

export interface Descriptor {
  mediaType: string
  digest: Digest
  size: number
  platform?: Platform
  annotations?: Record<string, string>
}

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] }
  | { kind: 'manifest'; mediaType: string; config: Descriptor; layers: Descriptor[] }

export interface ImageConfig {
  os: string
  architecture: string
  variant?: string
  diffIds: Digest[]
  raw: Record<string, unknown>
}

function bad(what: string, why: string): VigilError {
  return new VigilError('ERR_MANIFEST_INVALID', `${what}: ${why}`)
}

/**
 * A JSON object from a registry or a file. Errors describe, never quote: JSON.parse's own message
 * carries the first bytes of the body, and a job's result must not echo what a server answered.
 */
export function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw bad(what, `not JSON (${bytes.length} bytes)`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(what, 'not a JSON object')
  return value as Record<string, unknown>
}

export function readDescriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw bad(what, 'descriptor is not an object')
  const v = value as Record<string, unknown>
  if (!isDigest(v.digest)) throw bad(what, 'descriptor digest is not sha256:<64 hex>')
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw bad(what, `descriptor ${v.digest} has no valid size`)
  const platform = readPlatform(v.platform)
  const annotations = typeof v.annotations === 'object' && v.annotations !== null ? (v.annotations as Record<string, string>) : undefined
  return {
    mediaType: typeof v.mediaType === 'string' ? v.mediaType : '',
    digest: v.digest,
    size: v.size,
    ...(platform ? { platform } : {}),
    ...(annotations ? { annotations } : {}),
  }
}

/**
 * Parses an index or a manifest. The kind comes from the body's own `mediaType`, else from the
 * transport's (Content-Type or the parent descriptor), else from its shape (`manifests` vs `layers`),
 * because OCI makes `mediaType` optional in the body.
 */
export function parseManifest(bytes: Uint8Array, transportMediaType: string | undefined, what: string): ParsedManifest {
  const doc = parseJsonObject(bytes, what)
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : (transportMediaType?.split(';')[0]?.trim() ?? '')
  if (declared === MEDIA.dockerSchema1 || declared === MEDIA.dockerSchema1Signed || doc.schemaVersion === 1) {
    throw new VigilError('ERR_MEDIA_TYPE_UNSUPPORTED', `${what}: Docker schema 1 manifests are not supported`)
  }
  if (doc.schemaVersion !== 2) throw bad(what, 'schemaVersion is not 2')
  const isIndex = declared === MEDIA.ociIndex || declared === MEDIA.dockerList || (!isKnownManifest(declared) && Array.isArray(doc.manifests))
  if (isIndex) {
    if (!Array.isArray(doc.manifests)) throw bad(what, 'index has no manifests array')
    return { kind: 'index', mediaType: declared || MEDIA.ociIndex, manifests: doc.manifests.map((m, i) => readDescriptor(m, `${what} manifests[${i}]`)) }
  }
  if (declared && !isKnownManifest(declared) && declared !== 'application/json') {
    throw new VigilError('ERR_MEDIA_TYPE_UNSUPPORTED', `${what}: media type ${printableMediaType(declared)} is not an image manifest or index`)
  }
  if (!Array.isArray(doc.layers)) throw bad(what, 'manifest has no layers array')
  return {
    kind: 'manifest',
    mediaType: declared || MEDIA.ociManifest,
    config: readDescriptor(doc.config, `${what} config`),
    layers: doc.layers.map((l, i) => readDescriptor(l, `${what} layers[${i}]`)),
  }
}

/** A media type as the registry named it, only when it has the shape of one (else not echoed). */
function printableMediaType(mediaType: string): string {
  return /^[a-z0-9][a-z0-9.+-]{0,63}\/[a-z0-9][a-z0-9.+-]{0,127}$/i.test(mediaType) ? mediaType : `(not a media type, ${mediaType.length} characters)`
}

function isKnownManifest(mediaType: string): boolean {
  return mediaType === MEDIA.ociManifest || mediaType === MEDIA.dockerManifest
}

export function parseImageConfig(bytes: Uint8Array, what: string): ImageConfig {
  const raw = parseJsonObject(bytes, what)
  const rootfs = raw.rootfs as { diff_ids?: unknown } | undefined
  if (typeof rootfs !== 'object' || rootfs === null || !Array.isArray(rootfs.diff_ids)) throw bad(what, 'no rootfs.diff_ids')
  const diffIds = rootfs.diff_ids.map((d, i) => {
    if (!isDigest(d)) throw bad(what, `rootfs.diff_ids[${i}] is not sha256:<64 hex>`)
    return d
  })
  if (typeof raw.os !== 'string' || typeof raw.architecture !== 'string') throw bad(what, 'no os/architecture')
  if (raw.history !== undefined && !Array.isArray(raw.history)) throw bad(what, 'history is not an array')
  return { os: raw.os, architecture: raw.architecture, ...(typeof raw.variant === 'string' && raw.variant ? { variant: raw.variant } : {}), diffIds, raw }
}

/** The compression a layer media type names; unknown ones are sniffed by the pipeline ('auto'). */
export function compressionOf(mediaType: string): LayerCompression {
  if (mediaType.endsWith('+gzip') || mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip') return 'gzip'
  if (mediaType.endsWith('+zstd') || mediaType === 'application/vnd.docker.image.rootfs.diff.tar.zstd') return 'zstd'
  if (mediaType === MEDIA.ociLayerTar || mediaType === 'application/vnd.docker.image.rootfs.diff.tar') return 'none'
  return 'auto'
}

/** Layers with their diff_ids; a count that differs from the config's diff_ids is a broken image. */
export function buildLayers(layers: Descriptor[], config: ImageConfig, locate: (d: Descriptor) => BlobLocator, what: string): LayerRef[] {
  if (layers.length !== config.diffIds.length) {
    throw bad(what, `${layers.length} layers but the config lists ${config.diffIds.length} diff_ids`)
  }
  return layers.map((d, i) => ({
    digest: d.digest,
    diffId: config.diffIds[i]!,
    mediaType: d.mediaType,
    size: d.size,
    compression: compressionOf(d.mediaType),
    locator: locate(d),
  }))
}
