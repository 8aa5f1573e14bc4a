import type { Analyzer } from './types.js'

/**
 * The analyzer registry: an explicit array, one line per analyzer. Adding an ecosystem is one
 * file in this folder plus one line here.
 */
export const ANALYZERS: readonly Analyzer[] = [
]

/** Changes whenever any analyzer is added, removed or bumped: part of the layer-cache key. */
export function analyzerSetVersion(analyzers: readonly Analyzer[] = ANALYZERS): string {
  return analyzers.map((a) => `${a.name}@${a.version}`).sort().join(',')
}
