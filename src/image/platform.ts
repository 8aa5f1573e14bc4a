import { VigilError } from '../errors.js'

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

export const DEFAULT_PLATFORM = 'linux/amd64'

// Names other tools write for the same thing (uname -m style); containerd normalises the same way.
const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i686: '386', i386: '386' }
// The variant an architecture has when none is written: arm64 images are v8, 32-bit arm is v7.
const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', arm: 'v7' }

export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/')
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new VigilError('ERR_USAGE', `invalid platform "${text}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`)
  }
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) })
}

export function normalizePlatform(p: Platform): Platform {
  const architecture = ARCH_ALIASES[p.architecture] ?? p.architecture
  const variant = p.variant ?? DEFAULT_VARIANT[architecture]
  return { os: p.os, architecture, ...(variant ? { variant } : {}) }
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown'
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`
}

/**
 * Whether an image for `have` runs where `want` was asked for. A request without a variant accepts
 * the architecture's default variant (arm64 → v8) or none; amd64's `v1`…`v4` levels are not
 * distinguished by anyone in practice, so amd64 ignores the variant.
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want)
  const h = normalizePlatform(have)
  if (w.os !== h.os || w.architecture !== h.architecture) return false
  if (w.architecture === 'amd64') return true
  return (w.variant ?? '') === (h.variant ?? '')
}

/** Reads an index entry's `platform` field; undefined when absent or malformed. */
export function readPlatform(value: unknown): Platform | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  if (typeof v.os !== 'string' || typeof v.architecture !== 'string') return undefined
  return { os: v.os, architecture: v.architecture, ...(typeof v.variant === 'string' && v.variant ? { variant: v.variant } : {}) }
}

export interface PlatformEntry<T> {
  platform: Platform | undefined
  item: T
}

/**
 * Picks the entry for `want` from an index. Entries without a platform, or `unknown/unknown`
 * (BuildKit attestation manifests), never match. None matching → ERR_PLATFORM_NOT_FOUND that lists
 * what the index has.
 */
export function choosePlatform<T>(entries: PlatformEntry<T>[], want: Platform, where: string): { item: T; platform: Platform } {
  for (const e of entries) {
    if (e.platform && e.platform.os !== 'unknown' && platformMatches(want, e.platform)) return { item: e.item, platform: e.platform }
  }
  const available = entries.filter((e) => e.platform && e.platform.os !== 'unknown').map((e) => formatPlatform(e.platform))
  throw new VigilError(
    'ERR_PLATFORM_NOT_FOUND',
    `${where} has no image for ${formatPlatform(want)}; available: ${available.length ? available.join(', ') : 'none'}`,
    { details: { requested: formatPlatform(want), available } },
  )
}
