import { ANALYZERS, analyzerSetVersion } from '../src/analyzers/index.js'
import { VigilError, encodeForWorker } from '../src/errors.js'
import { analyzeLayer } from '../src/layers/analyze.js'
import type { LayerReport, LayerTask } from '../src/layers/types.js'

const OWN_SET = analyzerSetVersion(ANALYZERS)

/** Piscina task: one layer in, one LayerReport out. Errors leave as encoded VigilError records. */
export default async function analyzeLayerTask(task: LayerTask): Promise<LayerReport> {
  try {
    if (task.analyzerSet !== OWN_SET) {
      // A stale dist/ (or a mixed deployment) would otherwise cache reports under the wrong key.
      throw new VigilError('ERR_INTERNAL', `worker runs analyzer set "${OWN_SET}", the task expects "${task.analyzerSet}"; rebuild dist/`, { retryable: false })
    }
    return await analyzeLayer(task.layer, ANALYZERS, task.limits)
  } catch (err) {
    throw encodeForWorker(err)
  }
}
