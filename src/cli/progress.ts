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
 * Scan progress on stderr: a bar that redraws in place on a terminal, and on anything else (a CI
 * log, a file) one plain line per step, which reads in order and carries no escape codes.
 * `enabled` false (--quiet, --no-progress) shows nothing.
 */
export function scanProgress(stderr: NodeJS.WritableStream & { isTTY?: boolean }, enabled = true, label = 'vigil'): ScanProgressView {
  if (!enabled) return NONE
  return stderr.isTTY ? progressBar(stderr) : progressLines(stderr, label)
}

/**
 * cli-progress rather than hand-written escapes: it already redraws in place, throttles redraws
 * and clears the line on stop, which is all this needs.
 */
function progressBar(stderr: NodeJS.WritableStream): ScanProgressView {
  const bar = new cliProgress.SingleBar(
    {
      stream: stderr,
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

function progressLines(stderr: NodeJS.WritableStream, label: string): ScanProgressView {
  const started = Date.now()
  const line = (text: string) => stderr.write(`${label}: ${text}\n`)
  return {
    onProgress(event) {
      if (event.kind === 'resolved') {
        // A dir: or rootfs: target is walked, not pulled: there is nothing to count before the walk.
        const local = event.platform === 'dir' || event.platform === 'rootfs'
        line(local ? `${event.reference}: walking the tree` : `${event.reference} (${event.digest.slice(0, 19)}…, ${event.platform}): ${event.layers} layer(s), ${mib(event.bytes)}`)
      } else if (event.kind === 'layer') {
        line(`layer ${event.done}/${event.total} ${event.digest.slice(7, 19)} ${mib(event.bytes)}${event.cached ? ' (cached)' : ''}`)
      } else if (event.kind === 'merged') {
        line(`${event.packages} packages found in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      }
    },
    stop: () => undefined,
  }
}
