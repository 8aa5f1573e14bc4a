import picomatch from 'picomatch'
import type { Inventory } from '../types.js'

/**
 * `--skip-dirs` / `--skip-files`: globs relative to the target's root (picomatch, dot files
 * included). A filesystem walk prunes with them (src/scan/filesystem.ts); an inventory read whole
 * (an image's layers, an SBOM) drops the packages found at those paths.
 */
export interface SkipOptions {
  /** Globs of directories not to enter, relative to the root (`**\/node_modules`, `test/fixtures`). */
  skipDirs?: readonly string[]
  /** Globs of files not to read, relative to the root (`**\/*.min.js`, `docs/requirements.txt`). */
  skipFiles?: readonly string[]
}

/** An inventory read whole (an image's, an SBOM's) without the packages found at skipped paths. */
export function dropSkipped(inventory: Inventory, opts: SkipOptions): Inventory {
  const skipped = skipper(opts)
  if (!skipped.any) return inventory
  return { ...inventory, packages: inventory.packages.filter((p) => !p.path || !skipped.path(p.path.replace(/^\/+/, ''))) }
}

export interface Skipper {
  any: boolean
  dir(rel: string): boolean
  file(rel: string): boolean
  /** A package's path: under a skipped directory, or a skipped file. */
  path(rel: string): boolean
}

export function skipper(opts: SkipOptions): Skipper {
  const clean = (globs: readonly string[] | undefined) => (globs ?? []).map((g) => g.replace(/^\.\//, '').replace(/\/+$/, '')).filter((g) => g !== '')
  const dirs = clean(opts.skipDirs)
  const files = clean(opts.skipFiles)
  const never = () => false
  const dir = dirs.length ? picomatch(dirs, { dot: true }) : never
  const file = files.length ? picomatch(files, { dot: true }) : never
  return {
    any: dirs.length + files.length > 0,
    dir,
    file,
    path: (rel) => {
      if (file(rel)) return true
      const parts = rel.split('/')
      for (let i = 1; i < parts.length; i++) if (dir(parts.slice(0, i).join('/'))) return true
      return false
    },
  }
}
