import { availableParallelism } from 'node:os'
import { ANALYZERS, analyzerSetVersion } from '../analyzers/index.js'
import { VigilError, type ErrorRecord } from '../errors.js'
import { refreshBlobLocator } from '../image/registry.js'
import { resolveImage } from '../image/resolve.js'
import type { LayerRef, RegistryAuth, ResolvedImage, ResolveOptions } from '../image/types.js'
import { mergeLayers, visibleResults } from '../layers/merge.js'
import { LayerPool } from '../layers/pool.js'
import type { LayerLimits, LayerReport, LayerStats } from '../layers/types.js'
import { finalizeInventory, osInfoFromFacts } from '../sbom/finalize.js'
import { openStore, type Store } from '../store/env.js'
import { LayerCache } from '../store/layer-cache.js'
import type { Digest, ImageInfo, Inventory, InventoryWarning } from '../types.js'
import { isDigest } from '../types.js'

export type ScanProgress =
  | { kind: 'resolved'; reference: string; digest: Digest; platform: string; layers: number; bytes: number }
  | { kind: 'layer'; digest: Digest; cached: boolean; done: number; total: number; bytes: number; stats?: LayerStats }
  | { kind: 'merged'; packages: number }

export interface BuildInventoryOptions {
  /** `os/arch[/variant]`, default linux/amd64. */
  platform?: string
  auth?: RegistryAuth
  insecure?: boolean
  /** A job's target policy for every connection, the layer workers' included (the daemon's). */
  guard?: ResolveOptions['guard']
  /** Layer cache location: an open store, or a data dir to open (and close) one in. Neither: no cache. */
  store?: Store
  dataDir?: string
  /** A shared worker pool (the daemon's); without one, a pool is started for this call and closed after. */
  pool?: LayerPool
  limits?: Partial<LayerLimits>
  /** Keep language packages that OS packages own (see FinalizeOptions); off by default. */
  includeOsOwned?: boolean
  onProgress?: (event: ScanProgress) => void
  signal?: AbortSignal
}

export interface InventoryResult {
  inventory: Inventory
  /** Non-fatal problems, each with `details.layer` (skipped unsafe paths, oversized files, corrupt databases). */
  errors: ErrorRecord[]
  layers: Array<{ digest: Digest; cached: boolean; stats: LayerStats }>
}

/** resolve → per layer: cache or worker → merge → finalize. */
export async function buildInventory(target: string, opts: BuildInventoryOptions = {}): Promise<Inventory> {
  return (await buildInventoryDetailed(target, opts)).inventory
}

export async function buildInventoryDetailed(target: string, opts: BuildInventoryOptions = {}): Promise<InventoryResult> {
  const image = await resolveImage(target, {
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(opts.auth ? { auth: opts.auth } : {}),
    ...(opts.insecure ? { insecure: opts.insecure } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.guard ? { guard: opts.guard } : {}),
  })
  opts.onProgress?.({ kind: 'resolved', reference: image.reference, digest: image.digest, platform: image.platform, layers: image.layers.length, bytes: image.layers.reduce((n, l) => n + (l.size ?? 0), 0) })

  const store = opts.store ?? (opts.dataDir ? openStore(opts.dataDir) : undefined)
  const cache = store ? new LayerCache(store) : undefined
  const pool = opts.pool ?? new LayerPool({ threads: Math.min(availableParallelism(), Math.max(1, distinct(image.layers).length)), ...(opts.limits ? { limits: opts.limits } : {}) })
  try {
    const analyzed = await analyzeAll(image, pool, cache, opts)
    const reports = image.layers.map((l) => analyzed.get(l.digest)!.report)
    const { inventory, errors } = inventoryFromReports(imageInfo(image), reports, analyzerSetVersion(ANALYZERS), opts)
    return {
      inventory,
      errors,
      layers: image.layers.map((l) => {
        const a = analyzed.get(l.digest)!
        return { digest: l.digest, cached: a.cached, stats: a.report.stats }
      }),
    }
  } finally {
    if (!opts.pool) await pool.close()
    if (!opts.store && store) await store.close()
  }
}

/** Layer reports, bottom first → merged → OS known → finalized packages: every target's last step. */
export function inventoryFromReports(image: ImageInfo, reports: readonly LayerReport[], analyzerSet: string, opts: Pick<BuildInventoryOptions, 'includeOsOwned' | 'onProgress'>): { inventory: Inventory; errors: ErrorRecord[] } {
  const merged = mergeLayers(reports)
  const { os: facts, ownedFiles } = visibleResults(merged.files)
  const os = osInfoFromFacts(facts)
  const packages = finalizeInventory(merged.packages, os, ownedFiles, { includeOsOwned: opts.includeOsOwned ?? false })
  opts.onProgress?.({ kind: 'merged', packages: packages.length })
  const inventory: Inventory = {
    v: 1,
    image,
    ...(os ? { os } : {}),
    packages,
    analyzerSet,
    createdAt: new Date().toISOString(),
    ...(merged.errors.length ? { warnings: merged.errors.map(toWarning) } : {}),
  }
  return { inventory, errors: merged.errors }
}

/** Every distinct layer at once: the pool queues what does not fit its threads. */
async function analyzeAll(image: ResolvedImage, pool: LayerPool, cache: LayerCache | undefined, opts: BuildInventoryOptions): Promise<Map<Digest, { report: LayerReport; cached: boolean }>> {
  const analyzerSet = analyzerSetVersion(ANALYZERS)
  const layers = distinct(image.layers)
  const out = new Map<Digest, { report: LayerReport; cached: boolean }>()
  let done = 0
  const finish = (layer: LayerRef, report: LayerReport, cached: boolean) => {
    out.set(layer.digest, { report, cached })
    opts.onProgress?.({ kind: 'layer', digest: layer.digest, cached, done: ++done, total: layers.length, bytes: layer.size ?? report.stats.bytesIn, stats: report.stats })
  }
  await Promise.all(
    layers.map(async (layer) => {
      const hit = cache?.get(layer.digest, analyzerSet)
      if (hit) return finish(layer, hit, true)
      const report = await analyzeWithReauth(pool, layer, opts)
      await cache?.put(layer.digest, analyzerSet, report)
      finish(layer, report, false)
    }),
  )
  return out
}

/** A registry token can expire while a layer waits in the queue: renew it once and try again. */
async function analyzeWithReauth(pool: LayerPool, layer: LayerRef, opts: BuildInventoryOptions): Promise<LayerReport> {
  try {
    return await pool.analyze(layer, opts.signal)
  } catch (err) {
    if (!(VigilError.is(err) && err.code === 'ERR_REGISTRY_AUTH' && err.details?.reauth && layer.locator.kind === 'http')) throw err
    const locator = await refreshBlobLocator(layer.locator, { ...(opts.auth ? { auth: opts.auth } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })
    return pool.analyze({ ...layer, locator }, opts.signal)
  }
}

/** A layer's non-fatal problem as the inventory carries it (plain, small, no stack). */
export function toWarning(e: ErrorRecord): InventoryWarning {
  const d = e.details ?? {}
  const path = typeof d.path === 'string' ? d.path : typeof d.entry === 'string' ? d.entry : undefined
  return { code: e.code, message: e.message, ...(path ? { path } : {}), ...(typeof d.layer === 'string' ? { layer: d.layer } : {}) }
}

function distinct(layers: readonly LayerRef[]): LayerRef[] {
  const seen = new Set<string>()
  return layers.filter((l) => !seen.has(l.digest) && seen.add(l.digest))
}

function imageInfo(image: ResolvedImage): ImageInfo {
  const diffIds = image.layers.map((l) => l.diffId).filter((d): d is Digest => isDigest(d))
  return {
    reference: image.reference,
    digest: image.digest,
    configDigest: image.configDigest,
    platform: image.platform,
    layers: image.layers.map((l) => l.digest),
    ...(diffIds.length === image.layers.length ? { diffIds } : {}),
    ...(image.repoTags?.length ? { repoTags: image.repoTags } : {}),
  }
}
