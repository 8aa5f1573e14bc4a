import { Inflate, Unzlib } from 'fflate'
import { VigilError } from '../../errors.js'

/**
 * A minimal zip central-directory reader. fflate's unzipSync trusts the sizes in the archive and
 * inflates every entry it is asked for in one go; here each entry is inflated in small input
 * steps against a byte budget shared by all (nested) archives of one image file, so a zip bomb
 * stops at the budget instead of exhausting memory.
 */

export interface ZipEntry {
  readonly name: string
  readonly method: number
  readonly compressedSize: number
  readonly size: number
  readonly localHeaderOffset: number
}

/** Bytes that may still be inflated, shared across nested archives. */
export interface InflateBudget {
  remaining: number
}

const EOCD_SIG = 0x06054b50
const CDH_SIG = 0x02014b50
const LFH_SIG = 0x04034b50
const ZIP64_LOCATOR_SIG = 0x07064b50
const ZIP64_EOCD_SIG = 0x06064b50
const STEP = 16 * 1024

const nameDecoder = new TextDecoder('utf-8', { fatal: false })

export function readZipDirectory(bytes: Uint8Array, where: string): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const corrupt = (why: string): VigilError => new VigilError('ERR_PKGDB_CORRUPT', `${where}: ${why}`)
  if (bytes.length < 22) throw corrupt('too short for a zip archive')
  // The end record sits in the last 22 + 65535 (comment) bytes.
  let eocd = -1
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === EOCD_SIG) {
      eocd = i
      break
    }
  }
  if (eocd < 0) throw corrupt('no zip end-of-central-directory record')
  let count = view.getUint16(eocd + 10, true)
  let cdSize = view.getUint32(eocd + 12, true)
  let cdOffset = view.getUint32(eocd + 16, true)
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // zip64 (big fat jars): the locator just before the end record points at the zip64 end record.
    const loc = eocd - 20
    if (loc < 0 || view.getUint32(loc, true) !== ZIP64_LOCATOR_SIG) throw corrupt('zip64 markers without a zip64 locator')
    const rec = Number(view.getBigUint64(loc + 8, true))
    if (rec + 56 > bytes.length || view.getUint32(rec, true) !== ZIP64_EOCD_SIG) throw corrupt('bad zip64 end record')
    count = Number(view.getBigUint64(rec + 32, true))
    cdSize = Number(view.getBigUint64(rec + 40, true))
    cdOffset = Number(view.getBigUint64(rec + 48, true))
  }
  if (cdOffset + cdSize > bytes.length) throw corrupt('central directory lies outside the file')
  // Each record takes at least 46 bytes, which bounds the walk by the directory's real size.
  if (count * 46 > cdSize) throw corrupt(`${count} entries cannot fit a ${cdSize}-byte directory`)
  const entries: ZipEntry[] = []
  let p = cdOffset
  for (let n = 0; n < count; n++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== CDH_SIG) throw corrupt(`bad central directory entry ${n}`)
    const nameLen = view.getUint16(p + 28, true)
    const extraLen = view.getUint16(p + 30, true)
    const commentLen = view.getUint16(p + 32, true)
    if (p + 46 + nameLen + extraLen > bytes.length) throw corrupt(`entry ${n} runs past the end`)
    let size = view.getUint32(p + 24, true)
    let compressedSize = view.getUint32(p + 20, true)
    let localHeaderOffset = view.getUint32(p + 42, true)
    if (size === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
      // The zip64 extra field holds the 64-bit values, in this order, for the fields marked 0xffffffff.
      const wide = zip64Extra(view, p + 46 + nameLen, extraLen)
      let k = 0
      if (size === 0xffffffff) size = wide[k++] ?? Number.MAX_SAFE_INTEGER
      if (compressedSize === 0xffffffff) compressedSize = wide[k++] ?? Number.MAX_SAFE_INTEGER
      if (localHeaderOffset === 0xffffffff) localHeaderOffset = wide[k++] ?? Number.MAX_SAFE_INTEGER
    }
    entries.push({
      name: nameDecoder.decode(bytes.subarray(p + 46, p + 46 + nameLen)),
      method: view.getUint16(p + 10, true),
      compressedSize,
      size,
      localHeaderOffset,
    })
    p += 46 + nameLen + extraLen + commentLen
  }
  return entries
}

function zip64Extra(view: DataView, start: number, len: number): number[] {
  for (let p = start; p + 4 <= start + len; ) {
    const id = view.getUint16(p, true)
    const size = view.getUint16(p + 2, true)
    if (id === 0x0001) {
      const out: number[] = []
      for (let q = p + 4; q + 8 <= p + 4 + size && q + 8 <= start + len; q += 8) out.push(Number(view.getBigUint64(q, true)))
      return out
    }
    p += 4 + size
  }
  return []
}

/** The entry's bytes; charges `budget` and throws ERR_ARCHIVE_BOMB when it runs out. */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry, budget: InflateBudget, where: string): Uint8Array {
  const corrupt = (why: string): VigilError => new VigilError('ERR_PKGDB_CORRUPT', `${where}!${entry.name}: ${why}`)
  const bomb = (): VigilError =>
    new VigilError('ERR_ARCHIVE_BOMB', `${where}!${entry.name}: expands past the archive budget`, { details: { entry: entry.name } })
  if (entry.size > budget.remaining) throw bomb()
  const lh = entry.localHeaderOffset
  if (lh + 30 > bytes.length) throw corrupt('local header outside the file')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(lh, true) !== LFH_SIG) throw corrupt('bad local header')
  const start = lh + 30 + view.getUint16(lh + 26, true) + view.getUint16(lh + 28, true)
  const end = start + entry.compressedSize
  if (end > bytes.length) throw corrupt('data runs past the end of the archive')
  const data = bytes.subarray(start, end)
  if (entry.method === 0) {
    budget.remaining -= data.length
    return data
  }
  if (entry.method !== 8) throw corrupt(`unsupported compression method ${entry.method}`)
  // The declared size (already within budget) is an upper bound: output past it means the header
  // lies, the mark of a crafted bomb.
  let out: Uint8Array | undefined
  try {
    out = inflateBounded(data, entry.size, false)
  } catch (err) {
    throw corrupt(err instanceof Error ? err.message : 'deflate stream is corrupt')
  }
  if (out === undefined) {
    throw new VigilError('ERR_ARCHIVE_BOMB', `${where}!${entry.name}: inflates past its declared ${entry.size} bytes`, { details: { entry: entry.name } })
  }
  budget.remaining -= out.length
  return out
}

/**
 * Inflates raw deflate (or zlib when `zlib`) into at most `limit` bytes; undefined when the
 * stream would produce more. Input goes in small steps, so memory stays near `limit` plus one
 * step's output however the stream is built.
 */
export function inflateBounded(data: Uint8Array, limit: number, zlib: boolean): Uint8Array | undefined {
  const chunks: Uint8Array[] = []
  let written = 0
  let overflow = false
  const onData = (chunk: Uint8Array): void => {
    if (overflow) return
    if (written + chunk.length > limit) {
      overflow = true
      return
    }
    chunks.push(chunk)
    written += chunk.length
  }
  const stream = zlib ? new Unzlib(onData) : new Inflate(onData)
  try {
    for (let off = 0; off < data.length && !overflow; off += STEP) {
      stream.push(data.subarray(off, Math.min(off + STEP, data.length)), off + STEP >= data.length)
    }
  } catch (err) {
    throw new VigilError('ERR_PKGDB_CORRUPT', 'deflate stream is corrupt', { cause: err })
  }
  if (overflow) return undefined
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(written)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

