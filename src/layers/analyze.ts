import { createReadStream, statSync } from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Analyzer, AnalyzerResult, FileInfo, ParseContext } from '../analyzers/types.js'
import { VigilError, toErrorRecord, type ErrorRecord } from '../errors.js'
import { openBlobStream } from '../image/digest.js'
import type { LayerRef } from '../image/types.js'
import { ExpansionBudget, decompressor, detectCompression, verifiedSource } from './decompress.js'
import { basename, dirname, normalizeEntryPath } from './paths.js'
import { TarReader, type TarHeader } from './tar-reader.js'
import { DEFAULT_LIMITS, type FileReport, type LayerLimits, type LayerReport } from './types.js'

const WHITEOUT = '.wh.'
const OPAQUE = '.wh..wh..opq'
/** How much of a file a `sniff` analyzer sees before deciding whether to read it all. */
export const SNIFF_BYTES = 4096
/** Errors kept per layer; a hostile layer could otherwise grow the report without bound. */
const MAX_ERRORS = 100
const NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET'])

/**
 * One layer, streamed: blob → digest check → gunzip / zstd / none → tar walk → analyzers on the
 * entries they match. Unmatched entries are skipped without being buffered, so memory stays at a
 * few stream buffers plus the matched files (each bounded by its analyzer's maxBytes).
 *
 * Fatal (thrown): ERR_DIGEST_MISMATCH, ERR_LAYER_CORRUPT, ERR_LAYER_TOO_LARGE and blob-access
 * errors. Recorded in `errors` (the layer still counts): ERR_PATH_UNSAFE (entry skipped),
 * ERR_FILE_TOO_LARGE (file skipped) and whatever an analyzer's parse throws.
 */
export async function analyzeLayer(layer: LayerRef, analyzers: readonly Analyzer[], limitsIn: Partial<LayerLimits> = {}, open: (l: LayerRef) => Readable | Promise<Readable> = openLayerBlob): Promise<LayerReport> {
  const limits: LayerLimits = { ...DEFAULT_LIMITS, ...limitsIn }
  const budget = new ExpansionBudget(limits)
  const report: LayerReport = {
    digest: layer.digest,
    ...(layer.diffId ? { diffId: layer.diffId } : {}),
    files: [],
    whiteouts: [],
    opaqueDirs: [],
    shadows: [],
    errors: [],
    stats: { bytesIn: 0, bytesOut: 0, entries: 0, matched: 0, compression: 'none' },
  }
  const raw = await open(layer)
  let failure: unknown
  try {
    const { stream, head } = await verifiedSource(raw, layer.digest, budget)
    const kind = detectCompression(head, layer.compression, layer.mediaType)
    report.stats.compression = kind
    const walker = new TarWalker(analyzers, limits, report, layer.digest)
    // zstd charges its own output block by block (one input chunk can expand without bound
    // there); gzip and plain tar output is charged here, as it is parsed.
    const countOut = kind !== 'zstd'
    const walk = async (tarBytes: AsyncIterable<Buffer>): Promise<void> => {
      try {
        // Pulled, not pushed: zlib inflates ahead into its readable buffer on the thread pool
        // while this loop parses, instead of parsing synchronously inside zlib's output callback.
        for await (const chunk of tarBytes) {
          if (countOut) budget.addOut(chunk.length)
          walker.reader.push(chunk)
          await walker.drain()
        }
        walker.reader.end()
      } catch (err) {
        // pipeline() reports the AbortError of the streams it tears down, not this cause.
        failure ??= err
        throw err
      }
    }
    const inflate = decompressor(kind, budget)
    await (inflate ? pipeline(stream, inflate, walk) : pipeline(stream, walk))
  } catch (err) {
    raw.destroy()
    throw classify(failure ?? err)
  } finally {
    report.stats.bytesIn = budget.bytesIn
    report.stats.bytesOut = budget.bytesOut
  }
  return report
}

/** 1 MiB reads: a quarter of the zlib round trips of the 64 KiB default, and no extra stream hop. */
const FILE_READ_CHUNK = 1024 * 1024

/**
 * Files are read here with large chunks (the bench measured gunzip itself 15–20% cheaper fed
 * 1 MiB than 64 KiB); registry blobs go through src/image's openBlobStream (retries, auth errors).
 */
export function openLayerBlob(layer: LayerRef): Readable {
  const loc = layer.locator
  if (loc.kind !== 'file') return openBlobStream(loc)
  // stat, unlike open, does not wait on a FIFO: a layer that is not a regular file is refused
  // before it can hold this worker for ever.
  let info
  try {
    info = statSync(loc.path)
  } catch (err) {
    throw classify(err)
  }
  if (!info.isFile()) throw new VigilError('ERR_ARCHIVE_INVALID', `layer blob ${layer.digest} is not a regular file (a FIFO, socket or device)`)
  if (loc.length === 0) return Readable.from([])
  const start = loc.offset ?? 0
  const stream = createReadStream(loc.path, { start, ...(loc.length === undefined ? {} : { end: start + loc.length - 1 }), highWaterMark: FILE_READ_CHUNK })
  return stream
}

function classify(err: unknown): VigilError {
  if (VigilError.is(err)) return err
  const e = err as NodeJS.ErrnoException
  if (e?.code === 'ENOENT') return new VigilError('ERR_TARGET_NOT_FOUND', `blob file does not exist: ${e.message}`, { cause: err })
  if (e && typeof e.code === 'string' && NETWORK_CODES.has(e.code)) {
    return new VigilError('ERR_REGISTRY_UNAVAILABLE', `blob stream failed: ${e.message}`, { cause: err })
  }
  // zlib ("unexpected end of file", "incorrect header check") reports the same thing as the tar
  // reader's own ERR_LAYER_CORRUPT: these bytes are not a layer.
  return new VigilError('ERR_LAYER_CORRUPT', `layer cannot be read: ${e?.message ?? String(err)}`, { cause: err })
}

/** What the walker is collecting for the entry the reader has open. */
interface Pending {
  info: FileInfo
  analyzers: Analyzer[]
  /** `sniff`: the head is being read for the sniffers; `full`: the whole body. */
  phase: 'sniff' | 'full'
  /** Re-sniff on the full body: set when non-sniffing analyzers forced a full read. */
  resniff: boolean
}

/**
 * Turns TarReader events into report entries. Event handlers are synchronous except where an
 * analyzer parses; then drain() awaits it before asking the reader for more.
 */
class TarWalker {
  readonly reader = new TarReader()
  /** Matched file bytes kept for hard links that point at them (bounded by linkRetainBytes). */
  private readonly retained = new Map<string, Uint8Array>()
  private retainedBytes = 0
  private pending: Pending | undefined
  /** Paths whose content an analyzer looked at: a hard link to one needs no warning. */
  private readonly examined = new Set<string>()
  private readonly dispatch: FileDispatch

  constructor(
    analyzers: readonly Analyzer[],
    private readonly limits: LayerLimits,
    private readonly report: LayerReport,
    layerDigest: string,
  ) {
    this.dispatch = new FileDispatch(analyzers, limits, report, layerDigest)
  }

  /** Handles every event the reader can produce from the chunks pushed so far. */
  async drain(): Promise<void> {
    for (let ev = this.reader.next(); ev !== null; ev = this.reader.next()) {
      const work = ev.kind === 'entry' ? this.onEntry(ev.header) : this.onBody(ev.bytes)
      if (work) await work
    }
  }

  private onEntry(header: TarHeader): Promise<void> | undefined {
    this.pending = undefined
    this.report.stats.entries++
    const path = normalizeEntryPath(header.name)
    if (path === null) {
      this.dispatch.record(new VigilError('ERR_PATH_UNSAFE', `tar entry "${header.name}" escapes the layer root; skipped`, { details: { entry: header.name } }))
      return
    }
    const name = basename(path)
    if (name.startsWith(WHITEOUT)) {
      if (name === OPAQUE) this.report.opaqueDirs.push(dirname(path))
      else if (!name.startsWith(WHITEOUT + WHITEOUT)) {
        const dir = dirname(path)
        const target = name.slice(WHITEOUT.length)
        this.report.whiteouts.push(dir === '' ? target : `${dir}/${target}`)
      }
      // `.wh..wh.*` other than the opaque marker is aufs bookkeeping, not image content.
      return
    }
    const type = header.type
    if (type === 'file' || type === 'contiguous-file') {
      const info: FileInfo = { path, size: header.size, mode: header.mode }
      const matched = this.dispatch.matching(info)
      if (matched.length > 0) this.startRead(info, matched)
      return
    }
    if (type === 'link') return this.onHardLink(path, header)
    // Symlinks, directories and devices are never followed or read, so a symlink loop or a link
    // pointing out of the root costs nothing; they only hide a lower layer's file at this path.
    if (type !== 'directory' && this.dispatch.matching({ path, size: 0, mode: header.mode }).length > 0) this.report.shadows.push(path)
    return
  }

  private onHardLink(path: string, header: TarHeader): Promise<void> | undefined {
    const target = normalizeEntryPath(header.linkname)
    if (target === null) {
      this.dispatch.record(new VigilError('ERR_PATH_UNSAFE', `hard link "${header.name}" points outside the layer root ("${header.linkname}"); skipped`, { details: { entry: header.name } }))
      return
    }
    const bytes = this.retained.get(target)
    const info: FileInfo = { path, size: bytes?.length ?? 0, mode: header.mode }
    const matched = this.dispatch.matching(info)
    if (matched.length === 0) return
    if (bytes) return this.dispatch.parseAll(info, matched, bytes)
    // The target's bytes were not kept: the link hides a lower layer's file here. When no analyzer
    // ever looked at them (the target's name matched nothing), they went unread: the report says so.
    this.report.shadows.push(path)
    if (!this.examined.has(target)) this.dispatch.record(new VigilError('ERR_LINK_UNREAD', `hard link ${path} points at ${target}, a file no analyzer read; its content was not read`, { details: { path, target } }))
    return
  }

  private startRead(info: FileInfo, matched: Analyzer[]): void {
    let sniffers = 0
    for (const a of matched) if (a.sniff) sniffers++
    if (sniffers === matched.length) {
      // Every analyzer recognises content: read the head first, then all of it only if asked.
      this.pending = { info, analyzers: matched, phase: 'sniff', resniff: false }
      this.reader.collect(Math.min(SNIFF_BYTES, info.size))
      return
    }
    if (!this.dispatch.fits(info, matched)) return
    // Read anyway for the others: the sniffing analyzers still only get what they recognise.
    this.pending = { info, analyzers: matched, phase: 'full', resniff: sniffers > 0 }
    this.reader.collect(info.size)
  }

  private onBody(bytes: Buffer): Promise<void> | undefined {
    const p = this.pending
    if (!p) return
    this.examined.add(p.info.path)
    if (p.phase === 'sniff') {
      const wanted = p.analyzers.filter((a) => a.sniff!(bytes))
      if (wanted.length === 0 || !this.dispatch.fits(p.info, wanted)) {
        this.pending = undefined
        return
      }
      p.analyzers = wanted
      p.phase = 'full'
      this.reader.collect(p.info.size)
      return
    }
    this.pending = undefined
    let wanted = p.analyzers
    if (p.resniff) {
      const head = bytes.subarray(0, SNIFF_BYTES)
      wanted = wanted.filter((a) => !a.sniff || a.sniff(head))
    }
    this.report.stats.matched++
    if (this.retainedBytes + bytes.length <= this.limits.linkRetainBytes) {
      this.retained.set(p.info.path, bytes)
      this.retainedBytes += bytes.length
    }
    return this.dispatch.parseAll(p.info, wanted, bytes)
  }
}

/**
 * Which analyzers take a file, whether it fits their read limit, and their results and errors
 * into the report: the per-file half of the layer walk, shared with the filesystem walk of
 * `dir:` and `rootfs:` targets (src/scan/filesystem.ts).
 */
export class FileDispatch {
  constructor(
    private readonly analyzers: readonly Analyzer[],
    private readonly limits: LayerLimits,
    private readonly report: LayerReport,
    private readonly layerDigest: string,
  ) {}

  matching(info: FileInfo): Analyzer[] {
    let out: Analyzer[] | undefined
    for (const a of this.analyzers) {
      if (a.match(info)) (out ??= []).push(a)
    }
    return out ?? NONE
  }

  /** False (and ERR_FILE_TOO_LARGE recorded) when the file is over every analyzer's read limit. */
  fits(info: FileInfo, analyzers: Analyzer[]): boolean {
    let limit = 0
    for (const a of analyzers) limit = Math.max(limit, a.maxBytes ?? this.limits.maxFileBytes)
    if (info.size <= limit) return true
    this.record(new VigilError('ERR_FILE_TOO_LARGE', `${info.path} is ${info.size} bytes, over the ${limit}-byte read limit; skipped`, { details: { path: info.path, size: info.size, limit } }))
    return false
  }

  async parseAll(info: FileInfo, analyzers: Analyzer[], bytes: Uint8Array, context: Pick<ParseContext, 'readRelative'> = {}): Promise<void> {
    for (const a of analyzers) {
      try {
        const { warnings, ...result }: AnalyzerResult = await a.parse(bytes, { ...info, layer: this.layerDigest, ...context })
        for (const w of warnings ?? []) this.record({ ...w, message: `${a.name} on ${info.path}: ${w.message}`, details: { ...w.details, path: info.path, analyzer: a.name } })
        if (result.packages?.length || result.os || result.ownedFiles?.length) {
          const file: FileReport = { path: info.path, analyzer: a.name, result }
          this.report.files.push(file)
        }
      } catch (err) {
        const rec = toErrorRecord(err)
        this.record({ ...rec, message: `${a.name} on ${info.path}: ${rec.message}`, details: { ...rec.details, path: info.path, analyzer: a.name } })
      }
    }
  }

  record(err: VigilError | ErrorRecord): void {
    const errors = this.report.errors
    if (errors.length < MAX_ERRORS) errors.push(VigilError.is(err) ? err.toRecord() : err)
    else if (errors.length === MAX_ERRORS) errors.push({ code: VigilError.is(err) ? err.code : err.code, message: `more than ${MAX_ERRORS} problems in this layer; the rest are not listed`, retryable: false })
  }
}

const NONE: Analyzer[] = []
