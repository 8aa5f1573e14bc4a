import type { AnalyzerResult } from '../analyzers/types.js'
import type { ErrorRecord } from '../errors.js'
import type { Digest, Package } from '../types.js'
import { isAtOrBelow, isBelow } from './paths.js'
import type { FileReport, LayerReport } from './types.js'

/** One analyzer result that is still visible in the merged (top-layer) filesystem. */
export interface MergedFile extends FileReport {
  /** The layer whose copy of the file is visible. */
  layer: Digest
}

export interface MergedLayers {
  /** Visible files, bottom layer first, then by path: a stable order for the outputs. */
  files: MergedFile[]
  /** Packages from the visible files, each attributed to the layer that first had it at this version. */
  packages: Package[]
  /** Non-fatal problems from every layer, each tagged with its layer. */
  errors: ErrorRecord[]
}

/**
 * Applies layer reports bottom-up the way an overlay filesystem (and Trivy's applier) does: a
 * file at a path replaces the lower layer's file at that path (a rewritten dpkg status replaces
 * the old one whole), a whiteout removes the path and everything below it, an opaque directory
 * hides everything below it from lower layers, and a non-file (symlink, directory) at a path
 * hides the lower file. Whiteouts and opaque markers never touch files of their own layer.
 */
export function mergeLayers(reports: readonly LayerReport[]): MergedLayers {
  // path → analyzer → the visible result; analyzers that share a path are replaced together.
  const visible = new Map<string, Map<string, { report: FileReport; layer: number }>>()
  const errors: ErrorRecord[] = []
  reports.forEach((report, layer) => {
    for (const dir of report.opaqueDirs) deleteWhere(visible, (p) => isBelow(p, dir))
    for (const gone of report.whiteouts) deleteWhere(visible, (p) => isAtOrBelow(p, gone))
    for (const path of report.shadows) visible.delete(path)
    for (const file of report.files) {
      let byAnalyzer = visible.get(file.path)
      if (!byAnalyzer || byAnalyzer.values().next().value?.layer !== layer) {
        byAnalyzer = new Map()
        visible.set(file.path, byAnalyzer)
      }
      byAnalyzer.set(file.analyzer, { report: file, layer })
    }
    for (const e of report.errors) errors.push({ ...e, details: { ...e.details, layer: report.digest } })
  })

  const firstSeen = firstLayerOfEachPackage(reports)
  const entries = [...visible.values()].flatMap((m) => [...m.values()])
  entries.sort((a, b) => a.layer - b.layer || (a.report.path < b.report.path ? -1 : a.report.path > b.report.path ? 1 : 0))
  const files: MergedFile[] = []
  const packages: Package[] = []
  for (const { report, layer } of entries) {
    const digest = reports[layer]!.digest
    files.push({ ...report, layer: digest })
    for (const pkg of report.result.packages ?? []) {
      const introducedIn = firstSeen.get(packageKey(report.analyzer, pkg)) ?? layer
      packages.push({ ...pkg, layer: reports[introducedIn]!.digest })
    }
  }
  return { files, packages, errors }
}

/**
 * The identity a package keeps across layers: analyzer, name, version and arch, plus the path for
 * language packages (two copies of one npm package in different folders are two packages). OS
 * packages leave the path out because a database file (dpkg status) is rewritten by later layers.
 */
function packageKey(analyzer: string, pkg: Package): string {
  return `${analyzer}\0${pkg.kind === 'lang' ? pkg.path : ''}\0${pkg.name}\0${pkg.version}\0${pkg.arch ?? ''}`
}

function firstLayerOfEachPackage(reports: readonly LayerReport[]): Map<string, number> {
  const first = new Map<string, number>()
  reports.forEach((report, layer) => {
    for (const file of report.files) {
      for (const pkg of file.result.packages ?? []) {
        const key = packageKey(file.analyzer, pkg)
        if (!first.has(key)) first.set(key, layer)
      }
    }
  })
  return first
}

function deleteWhere(visible: Map<string, unknown>, hit: (path: string) => boolean): void {
  for (const path of visible.keys()) if (hit(path)) visible.delete(path)
}

/** Every visible `os` fact and owned-file list, for the inventory's finaliser. */
export function visibleResults(files: readonly MergedFile[]): { os: Array<{ path: string; os: NonNullable<AnalyzerResult['os']> }>; ownedFiles: Set<string> } {
  const os: Array<{ path: string; os: NonNullable<AnalyzerResult['os']> }> = []
  const ownedFiles = new Set<string>()
  for (const f of files) {
    if (f.result.os) os.push({ path: f.path, os: f.result.os })
    for (const owned of f.result.ownedFiles ?? []) ownedFiles.add(owned)
  }
  return { os, ownedFiles }
}
