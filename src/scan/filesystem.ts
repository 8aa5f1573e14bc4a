import { createHash } from 'node:crypto'
import { lstatSync, readFileSync, type Dirent } from 'node:fs'
import { lstat, open, opendir, readFile } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { cargoLockAnalyzer } from '../analyzers/cargo-lock.js'
import { ANALYZERS, analyzerSetVersion } from '../analyzers/index.js'
import { LOCKFILE_ANALYZERS } from '../analyzers/lang/lockfiles.js'
import type { Analyzer, FileInfo } from '../analyzers/types.js'
import { VigilError } from '../errors.js'
import { parseTarget } from '../image/reference.js'
import { FileDispatch, SNIFF_BYTES } from '../layers/analyze.js'
import { DEFAULT_LIMITS, type LayerLimits, type LayerReport } from '../layers/types.js'
import type { Digest, Inventory } from '../types.js'
import { buildInventoryDetailed, inventoryFromReports, type BuildInventoryOptions, type InventoryResult } from './inventory.js'
import { dropSkipped, skipper, type SkipOptions, type Skipper } from './skip.js'

/**
 * `dir:` and `rootfs:` targets, as `trivy fs` / `trivy rootfs` / `grype dir:` read them: the
 * directory is walked once, and each regular file goes through the same analyzer dispatch as a
 * tar entry of an image layer (FileDispatch), so the result is one layer report that merges and
 * finalizes like an image's.
 *
 *   dir:     the lockfile and manifest readers (LOCKFILE_ANALYZERS, and Cargo.lock, which the image
 *            registry also reads for Rust binaries): what a source tree declares.
 *   rootfs:  the image registry (ANALYZERS): OS package databases and installed language packages.
 */
const ANALYZERS_OF = { dir: [...LOCKFILE_ANALYZERS, cargoLockAnalyzer], rootfs: ANALYZERS } as const

export type { SkipOptions }
export type AnyTargetOptions = BuildInventoryOptions & SkipOptions

/**
 * Any target of `vigil scan` / `vigil sbom` but `sbom:`: a filesystem is walked here, an image goes
 * through buildInventoryDetailed. --skip-dirs / --skip-files prune the walk of a filesystem; for an
 * image, whose layers are analysed whole (and cached), packages found at skipped paths are left out.
 */
export async function buildTargetInventory(target: string, opts: AnyTargetOptions = {}): Promise<InventoryResult> {
  const parsed = parseTarget(target)
  if (parsed.kind === 'dir' || parsed.kind === 'rootfs') return buildFilesystemInventory(parsed.kind, parsed.path, opts)
  const result = await buildInventoryDetailed(target, opts)
  return { ...result, inventory: dropSkipped(result.inventory, opts) }
}

export async function buildFilesystemInventory(kind: 'dir' | 'rootfs', path: string, opts: AnyTargetOptions = {}): Promise<InventoryResult> {
  const root = resolve(path)
  let rootStat
  try {
    rootStat = await lstat(root)
  } catch {
    throw new VigilError('ERR_TARGET_NOT_FOUND', `${kind}:${path}: no such directory`)
  }
  if (!rootStat.isDirectory()) throw new VigilError('ERR_TARGET_INVALID', `${kind}:${path} is not a directory${rootStat.isFile() ? ` (for a tar, use docker-archive:${path}; an SBOM is sbom:${path})` : ''}`)

  // The identity of a filesystem is its kind and place: scanning it again replaces what the index
  // holds for it, as re-scanning an image digest does.
  const digest = `sha256:${createHash('sha256').update(`${kind}:${root}`).digest('hex')}` as Digest
  const analyzers = ANALYZERS_OF[kind]
  const limits: LayerLimits = { ...DEFAULT_LIMITS, ...opts.limits }
  const report: LayerReport = { digest, files: [], whiteouts: [], opaqueDirs: [], shadows: [], errors: [], stats: { bytesIn: 0, bytesOut: 0, entries: 0, matched: 0, compression: 'none' } }
  opts.onProgress?.({ kind: 'resolved', reference: `${kind}:${path}`, digest, platform: kind, layers: 1, bytes: 0 })
  await walk(root, new FileDispatch(analyzers, limits, report, digest), report, skipper(opts), opts.signal)
  opts.onProgress?.({ kind: 'layer', digest, cached: false, done: 1, total: 1, bytes: report.stats.bytesIn, stats: report.stats })

  const image: Inventory['image'] = { reference: `${kind}:${path}`, digest, platform: kind, layers: [digest] }
  const { inventory, errors } = inventoryFromReports(image, [report], analyzerSetVersion(analyzers), opts)
  return { inventory, errors, layers: [{ digest, cached: false, stats: report.stats }] }
}

/**
 * Depth-first over real directories only: symlinks are neither followed nor read (as in a layer,
 * where they are only names), so a link loop or a link out of the root costs nothing. What cannot
 * be read is recorded and passed over; the walk goes on.
 */
async function walk(root: string, dispatch: FileDispatch, report: LayerReport, skip: Skipper, signal: AbortSignal | undefined): Promise<void> {
  const stack: string[] = ['']
  while (stack.length > 0) {
    signal?.throwIfAborted()
    const rel = stack.pop()!
    let entries: Dirent[]
    try {
      const dir = await opendir(rel === '' ? root : join(root, rel))
      entries = []
      for await (const e of dir) entries.push(e)
    } catch (err) {
      dispatch.record(new VigilError('ERR_FILE_UNREADABLE', `cannot read directory ${rel || '.'}: ${(err as Error).message}; skipped`, { details: { path: rel } }))
      continue
    }
    // In name order, so that the report (and the inventory's order of discovery) is the same
    // every run: files as they come, subdirectories pushed last-first so they pop first-first.
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const subdirs: string[] = []
    for (const e of entries) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`
      report.stats.entries++
      if (e.isDirectory()) {
        if (!skip.dir(path)) subdirs.push(path)
      } else if (e.isFile() && !skip.file(path)) {
        await analyzeFile(root, path, dispatch, report)
      }
    }
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!)
  }
}

async function analyzeFile(root: string, path: string, dispatch: FileDispatch, report: LayerReport): Promise<void> {
  const abs = join(root, path)
  let info: FileInfo
  try {
    const st = lstatSync(abs)
    info = { path, size: st.size, mode: st.mode & 0o7777 }
  } catch {
    return
  }
  let analyzers: Analyzer[] = dispatch.matching(info)
  if (analyzers.length === 0) return
  try {
    if (analyzers.every((a) => a.sniff)) {
      const head = await readHead(abs, Math.min(SNIFF_BYTES, info.size))
      analyzers = analyzers.filter((a) => a.sniff!(head))
      if (analyzers.length === 0) return
    }
    if (!dispatch.fits(info, analyzers)) return
    const bytes = await readFile(abs)
    if (analyzers.some((a) => a.sniff)) {
      const head = bytes.subarray(0, SNIFF_BYTES)
      analyzers = analyzers.filter((a) => !a.sniff || a.sniff(head))
    }
    report.stats.matched++
    report.stats.bytesIn += bytes.length
    await dispatch.parseAll(info, analyzers, bytes, { readRelative: (name) => readNeighbour(root, path, name) })
  } catch (err) {
    dispatch.record(new VigilError('ERR_FILE_UNREADABLE', `cannot read ${path}: ${(err as Error).message}; skipped`, { details: { path } }))
  }
}

async function readHead(abs: string, n: number): Promise<Uint8Array> {
  const handle = await open(abs, 'r')
  try {
    const buf = Buffer.alloc(n)
    const { bytesRead } = await handle.read(buf, 0, n, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

/**
 * `readRelative` for lockfile readers whose format spans files (go.mod → go.sum, a pom's parent):
 * a regular file inside the root, within the default per-file limit, read synchronously (the
 * readers are synchronous). A path leaving the root, a symlink or anything else is absent.
 */
function readNeighbour(root: string, from: string, name: string): Uint8Array | undefined {
  if (isAbsolute(name)) return undefined
  const target = resolve(root, from, '..', name)
  const inside = relative(root, target)
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside) || inside.split(sep).includes('..')) return undefined
  try {
    const st = lstatSync(target)
    if (!st.isFile() || st.size > DEFAULT_LIMITS.maxFileBytes) return undefined
    return readFileSync(target)
  } catch {
    return undefined
  }
}
