import cliProgress from 'cli-progress'
import type { ScanProgress } from '../scan/inventory.js'

export interface ScanProgressView {
  onProgress(event: ScanProgress): void
  stop(): void
}

const NONE: ScanProgressView = { onProgress: () => undefined, stop: () => undefined }

function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`
}

/**
 * A layer progress bar on stderr, only when stderr is a terminal (pipes and CI logs stay clean).
 * cli-progress rather than hand-written escapes: it already redraws in place, throttles redraws
 * and clears the line on stop, which is all this needs.
 */
export function scanProgress(stderr: NodeJS.WritableStream & { isTTY?: boolean }, enabled = true): ScanProgressView {
  if (!enabled || !stderr.isTTY) return NONE
  const bar = new cliProgress.SingleBar(
    {
      stream: stderr as NodeJS.WritableStream,
      format: ' {phase} [{bar}] {value}/{total} layers | {bytes} | {what}',
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  )
  let started = false
  let bytes = 0
  return {
    onProgress(event) {
      if (event.kind === 'resolved') {
        bar.start(event.layers, 0, { phase: 'layers', bytes: mib(0), what: event.reference })
        started = true
      } else if (event.kind === 'layer' && started) {
        bytes += event.bytes
        bar.update(event.done, { bytes: mib(bytes), what: `${event.digest.slice(7, 19)}${event.cached ? ' (cached)' : ''}` })
      } else if (event.kind === 'merged' && started) {
        bar.update({ phase: 'merged', what: `${event.packages} packages` })
      }
    },
    stop() {
      if (started) bar.stop()
    },
  }
}
