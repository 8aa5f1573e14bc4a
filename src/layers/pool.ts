import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { ANALYZERS, analyzerSetVersion } from '../analyzers/index.js'
import { VigilError, decodeFromWorker } from '../errors.js'
import type { LayerRef } from '../image/types.js'
import type { LayerLimits, LayerReport, LayerTask } from './types.js'

export interface LayerPoolOptions {
  /** Worker threads; default: one per core. */
  threads?: number
  limits?: Partial<LayerLimits>
  /** Heap cap per worker (MiB): a parser gone wrong kills its worker, not the process. */
  maxOldGenerationSizeMb?: number
}

/** Finds package.json upwards: the same code runs from src/ (vitest) and from dist/src/. */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir
    const up = dirname(dir)
    if (up === dir) throw new VigilError('ERR_INTERNAL', `no package.json above ${from}`)
    dir = up
  }
}

export function workerFilename(): string {
  const file = join(packageRoot(), 'dist', 'workers', 'analyze-layer.js')
  if (!existsSync(file)) throw new VigilError('ERR_INTERNAL', `worker script ${file} is missing; run \`npm run build\``, { retryable: false })
  return file
}

/**
 * The layer worker pool. Workers stream blobs themselves (the task carries a locator, never
 * bytes) and send back small LayerReports; `tasksRun` lets tests prove the cache spared a layer.
 */
export class LayerPool {
  readonly threads: number
  private readonly piscina: Piscina
  private readonly limits: Partial<LayerLimits>
  private readonly analyzerSet = analyzerSetVersion(ANALYZERS)
  tasksRun = 0

  constructor(options: LayerPoolOptions = {}) {
    this.threads = Math.max(1, options.threads ?? availableParallelism())
    this.limits = options.limits ?? {}
    this.piscina = new Piscina({
      filename: workerFilename(),
      minThreads: this.threads,
      maxThreads: this.threads,
      // A layer task is long (seconds); one task per worker keeps layers spread across cores.
      concurrentTasksPerWorker: 1,
      idleTimeout: 30_000,
      resourceLimits: { maxOldGenerationSizeMb: options.maxOldGenerationSizeMb ?? 512 },
    })
  }

  async analyze(layer: LayerRef, signal?: AbortSignal): Promise<LayerReport> {
    const task: LayerTask = { layer, analyzerSet: this.analyzerSet, limits: this.limits }
    this.tasksRun++
    try {
      return (await this.piscina.run(task, signal ? { signal } : {})) as LayerReport
    } catch (err) {
      throw decodeFromWorker(err)
    }
  }

  close(): Promise<void> {
    return this.piscina.destroy()
  }
}
