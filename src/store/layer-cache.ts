import { createHash } from 'node:crypto'
import type { LayerReport } from '../layers/types.js'
import { storeWrite, type Store } from './env.js'

/**
 * Layer reports by layer digest + analyzer-set version. A layer digest names its bytes, so a
 * report made by the same analyzers can be reused by every image that shares the layer; a new or
 * bumped analyzer changes the set version and with it every key, so stale reports are never read.
 * The set version is hashed to keep keys short (it lists every analyzer).
 */
export function layerCacheKey(layerDigest: string, analyzerSet: string): string {
  const set = createHash('sha256').update(analyzerSet).digest('hex').slice(0, 16)
  return `${layerDigest}\0${set}`
}

export class LayerCache {
  hits = 0
  misses = 0
  constructor(private readonly store: Pick<Store, 'layers'>) {}

  get(layerDigest: string, analyzerSet: string): LayerReport | undefined {
    const value = this.store.layers.get(layerCacheKey(layerDigest, analyzerSet)) as LayerReport | undefined
    if (value) this.hits++
    else this.misses++
    return value
  }

  /** Resolves once the write is committed (lmdb-js batches writes into one transaction). */
  async put(layerDigest: string, analyzerSet: string, report: LayerReport): Promise<void> {
    await storeWrite(this.store.layers.put(layerCacheKey(layerDigest, analyzerSet), report))
  }
}
