import type { Digest } from '../types.js'

/**
 * How a worker reaches one blob by itself. Plain data: it crosses the worker boundary, and the
 * worker streams the bytes (whole layers never cross threads).
 */
export type BlobLocator =
  /** A file on disk, or a byte range of one (a layer.tar inside a docker-archive). */
  | { kind: 'file'; path: string; offset?: number; length?: number }
  /** A registry blob URL; `headers` carries the Authorization already negotiated by the main thread. */
  | { kind: 'http'; url: string; headers: Record<string, string>; insecure?: boolean }

export type LayerCompression = 'gzip' | 'zstd' | 'none' | 'auto'

export interface LayerRef {
  /** The blob digest as the manifest names it (compressed bytes), verified while streaming. */
  digest: Digest
  /** Uncompressed digest from the config's rootfs.diff_ids, when known. */
  diffId?: Digest
  mediaType: string
  size?: number
  compression: LayerCompression
  locator: BlobLocator
}

export interface ResolvedImage {
  reference: string
  /** Manifest digest. For a docker-archive without one, the sha256 of the canonical manifest we build. */
  digest: Digest
  configDigest: Digest
  config: Record<string, unknown>
  platform: string
  layers: LayerRef[]
  repoTags?: string[]
}

export interface ResolveOptions {
  /** `os/arch[/variant]`, default `linux/amd64`. */
  platform?: string
  /** Credentials for registry targets. */
  auth?: RegistryAuth
  /** Allow plain http for a non-loopback registry. */
  insecure?: boolean
  signal?: AbortSignal
}

export type RegistryAuth =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; token: string }
