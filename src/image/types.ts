import type { Digest } from '../types.js'
import type { ConnectGuard } from './target-policy.js'

/**
 * How a worker reaches one blob by itself. Plain data: it crosses the worker boundary, and the
 * worker streams the bytes (whole layers never cross threads).
 */
export type BlobLocator =
  /** A file on disk, or a byte range of one (a layer.tar inside a docker-archive). */
  | { kind: 'file'; path: string; offset?: number; length?: number }
  /**
   * A registry blob URL; `headers` carries the Authorization already negotiated by the main thread,
   * `guard` a job's target policy, which the worker's connections must pass too.
   */
  | { kind: 'http'; url: string; headers: Record<string, string>; insecure?: boolean; guard?: ConnectGuard }

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
  /** Where the image came from. */
  source?: 'oci' | 'docker-archive' | 'registry'
  /** The manifest's media type (OCI or Docker v2). */
  mediaType?: string
  /** The image index / manifest list the platform was chosen from, when there was one. */
  indexDigest?: Digest
}

export interface ResolveOptions {
  /** `os/arch[/variant]`, default `linux/amd64`. */
  platform?: string
  /** Credentials for registry targets. */
  auth?: RegistryAuth
  /** Allow plain http for a non-loopback registry. */
  insecure?: boolean
  signal?: AbortSignal
  /** Registry retries on 5xx, timeouts and resets (bounded). */
  retry?: RetryPolicy
  /** Per-request time limit for registry calls until the response headers arrive (ms, default 30000). */
  timeoutMs?: number
  /** A job's target policy, checked again on every connection (absent for the CLI). */
  guard?: ConnectGuard
}

export interface RetryPolicy {
  /** Attempts in all, the first one included (default 4). */
  attempts?: number
  /** First backoff delay in ms, doubled per attempt with jitter (default 250). */
  baseDelayMs?: number
  /** Cap on one delay (default 4000). */
  maxDelayMs?: number
}

export type RegistryAuth =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; token: string }
