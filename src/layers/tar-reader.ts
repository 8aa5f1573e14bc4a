import { VigilError } from '../errors.js'

/**
 * A pull-style streaming tar reader, hand-written instead of tar-stream for the scan hot path.
 * tar-stream gives every entry its own streamx Readable and parses inside the writer's callback;
 * almost every entry of a layer matches no analyzer, so here an unmatched body is skipped by
 * arithmetic (no copy, no object per entry) and only the bodies the caller asks for are copied
 * out, into one buffer of exactly the requested size. Measured on the 1 GB bench layer (21k
 * entries; best of 4, back to back, shared 2-core box): gunzip alone 1.40 s CPU, gunzip +
 * tar-stream draining every entry 1.49 s, gunzip + this reader 1.40 s. The whole analyzeLayer
 * went from 1.97 s to 1.72 s CPU (gunzip 1.38 s in the same run), together with the pulled,
 * decoupled inflate in analyze.ts.
 *
 * Use: push() decompressed chunks, then call next() until it returns null. After an `entry`
 * event the caller may call collect(n) to receive the body's first n bytes as a `body` event
 * (and may then collect more of the same entry); anything not collected is skipped on the
 * following next(). end() once the input is over: a truncated header or body is corrupt.
 *
 * Formats, read as Go's archive/tar reads them (containerd and moby extract layers with it, so
 * this is the file system the container gets): v7 (no magic), ustar (prefix field; star's
 * 131-byte prefix), old GNU / GNU (`ustar  \0`; long name `L`, long link `K`, base-256 numbers,
 * `S` sparse files with extension blocks), pax (`x` path / linkpath / size; `g` globals merged
 * into later entries, as GNU tar and Python do) and GNU's pax sparse files 0.0, 0.1 and 1.0.
 * Sparse files are handed out as regular files of their real size, holes read as zeros. A
 * trailing slash makes a directory only of a typeflag-NUL entry, judged on the full name: the
 * 100-byte name field of a long name may end in `/` whatever the entry is. Links, devices,
 * FIFOs and directories have no body whatever their size field says. Input after the
 * end-of-archive marker (two zero blocks) is read and ignored.
 */

export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'contiguous-file' | 'other'

export interface TarHeader {
  name: string
  /** Hard or symbolic link target; '' for other entries. */
  linkname: string
  type: TarEntryType
  /** The file's size (a sparse file's real size); 0 for entries that have no body. */
  size: number
  mode: number
}

export type TarEvent = { kind: 'entry'; header: TarHeader } | { kind: 'body'; header: TarHeader; bytes: Buffer }

const BLOCK = 512
/** Pax and GNU long-name bodies (and a pax 1.0 sparse map) are metadata; refused past this size. */
const MAX_META_BYTES = 4 * 1024 * 1024
/** Data fragments of one sparse file; a map past this is refused rather than held. */
const MAX_SPARSE_SEGMENTS = 1 << 17
const TYPES: Record<number, TarEntryType> = { 0: 'file', 48: 'file', 49: 'link', 50: 'symlink', 51: 'character-device', 52: 'block-device', 53: 'directory', 54: 'fifo', 55: 'contiguous-file', 68: 'directory' /* GNU dumpdir */, 83: 'file' /* GNU sparse */ }
/** Typeflags whose size field is ignored: no body follows (Go's isHeaderOnlyType). */
const HEADER_ONLY = new Set([49, 50, 51, 52, 53, 54])
const FLAG_PAX = 0x78 // x
const FLAG_PAX_SOLARIS = 0x58 // X, read as pax by Python's tarfile
const FLAG_PAX_GLOBAL = 0x67 // g
const FLAG_LONG_NAME = 0x4c // L
const FLAG_LONG_LINK = 0x4b // K
const FLAG_GNU_SPARSE = 0x53 // S
const META = new Set([FLAG_PAX, FLAG_PAX_SOLARIS, FLAG_PAX_GLOBAL, FLAG_LONG_NAME, FLAG_LONG_LINK])

/** One data fragment of a sparse file: `length` stored bytes that belong at `offset`. */
interface Segment {
  offset: number
  length: number
}

/** The open entry's data section: what is stored in the archive, and how far it has been read. */
interface Body {
  header: TarHeader
  /** Stored bytes still unread (excludes block padding). */
  left: number
  /** Padding after the data section. */
  pad: number
  /** Stored data bytes read so far (after any sparse map). */
  read: number
  /** A sparse file's fragments, ascending; undefined for a contiguous body. */
  sparse: Segment[] | undefined
  /** Index of the fragment holding stored byte `read`, and that fragment's first stored byte. */
  segment: number
  segmentStart: number
}

/** A sparse entry whose map is still being read (old GNU extension blocks or a pax 1.0 map). */
interface SparseMapRead {
  kind: 'gnu-extension' | 'pax-1.0'
  header: TarHeader
  /** The data section size from the header (for pax 1.0 it includes the map blocks). */
  dataBytes: number
  segments: Segment[]
  /** pax 1.0: decimal numbers parsed so far, the partial one, and how many the map holds. */
  numbers: number[]
  digits: string
  expected: number
  mapBytes: number
}

function corrupt(message: string): VigilError {
  return new VigilError('ERR_LAYER_CORRUPT', `layer cannot be read: ${message}`)
}

export class TarReader {
  private readonly chunks: Buffer[] = []
  /** Index of the first unread chunk and the read offset inside it. */
  private head = 0
  private at = 0
  private buffered = 0
  /** Bytes still to discard (an uncollected body and its padding). */
  private skip = 0
  /** The entry last announced and its data section. */
  private body: Body | undefined
  private collecting: { into: Buffer; filled: number; announced: boolean } | undefined
  private meta: { flag: number; into: Buffer; filled: number } | undefined
  private sparseMap: SparseMapRead | undefined
  private longName: string | undefined
  private longLink: string | undefined
  private pax: Record<string, string> | undefined
  private paxGlobal: Record<string, string> | undefined
  /** Set after a zero block; a second one in a row ends the archive. */
  private zeroBlock = false
  private ended = false
  private readonly scratch = Buffer.allocUnsafe(BLOCK)
  /** Uncompressed bytes consumed so far (for error messages). */
  position = 0

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    if (this.ended) {
      this.position += chunk.length
      return
    }
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /** Asks for the current entry's first `n` bytes (capped at its size) as the next `body` event. */
  collect(n: number): void {
    const b = this.body
    if (!b) throw new Error('TarReader.collect() without a current entry')
    const want = Math.min(n, b.header.size)
    // Holes of a sparse file are never written, so its buffer starts zeroed.
    const into = b.sparse ? Buffer.alloc(want) : Buffer.allocUnsafe(want)
    const prev = this.collecting
    if (prev) prev.into.copy(into, 0, 0, Math.min(prev.filled, want))
    this.collecting = { into, filled: Math.min(prev?.filled ?? 0, want), announced: false }
  }

  next(): TarEvent | null {
    for (;;) {
      if (this.skip > 0) {
        this.discard()
        if (this.skip > 0) return null
      }
      const c = this.collecting
      if (c && c.filled < c.into.length) {
        this.fill(c)
        if (c.filled < c.into.length) return null
      }
      if (this.body) {
        const b = this.body
        if (c && !c.announced) {
          // Deliver, and keep the entry open: the caller may collect further into it.
          c.announced = true
          return { kind: 'body', header: b.header, bytes: c.into }
        }
        this.body = undefined
        this.collecting = undefined
        this.skip = b.left + b.pad
        continue
      }
      if (this.meta) {
        const m = this.meta
        this.copyInto(m)
        if (m.filled < m.into.length) return null
        this.meta = undefined
        this.applyMeta(m.flag, m.into)
        this.skip = padding(m.into.length)
        continue
      }
      if (this.ended) {
        this.dropBuffered()
        return null
      }
      if (this.buffered < BLOCK) return null
      const block = this.take(BLOCK)
      const event = this.sparseMap ? this.sparseMapBlock(this.sparseMap, block) : this.header(block)
      if (event) return event
    }
  }

  /** Throws ERR_LAYER_CORRUPT unless the input ended at an entry boundary. */
  end(): void {
    if (this.next() !== null) throw new Error('TarReader.end() with events pending')
    if (this.ended) return
    if (this.skip > 0 || this.buffered > 0 || this.body || this.meta || this.sparseMap) {
      const inside = this.skip > 0 || this.body ? 'inside an entry body' : 'inside a header'
      throw corrupt(`tar stream is truncated (input ends ${inside} at byte ${this.position + this.buffered})`)
    }
  }

  private header(block: Buffer): TarEvent | null {
    const at = this.position - BLOCK
    // The checksum field itself counts as eight spaces.
    let sum = 8 * 32
    for (let i = 0; i < 148; i++) sum += block[i]!
    for (let i = 156; i < BLOCK; i++) sum += block[i]!
    if (sum === 8 * 32) {
      if (this.zeroBlock) this.ended = true
      this.zeroBlock = true
      return null
    }
    this.zeroBlock = false
    const stored = readNumber(block, 148, 8)
    // Some old tars summed the bytes as signed chars.
    if (stored !== sum && stored !== signedChecksum(block)) throw corrupt(`invalid tar header checksum at byte ${at} (stored ${stored}, computed ${sum}): not a tar stream, or damaged`)
    const magic = block[257] === 0x75 && block[258] === 0x73 && block[259] === 0x74 && block[260] === 0x61 && block[261] === 0x72
    const gnu = magic && block[262] === 0x20 && block[263] === 0x20 && block[264] === 0
    const ustar = magic && block[262] === 0
    const flag = block[156]!
    const sizeField = readNumber(block, 124, 12)
    if (!(sizeField >= 0) || !Number.isSafeInteger(sizeField)) throw corrupt(`tar header at byte ${at} has an invalid size`)
    if (META.has(flag)) {
      if (sizeField > MAX_META_BYTES) throw corrupt(`tar metadata entry of ${sizeField} bytes exceeds ${MAX_META_BYTES}`)
      this.meta = { flag, into: Buffer.allocUnsafe(sizeField), filled: 0 }
      return null
    }
    let name = readString(block, 0, 100)
    if (ustar && block[345] !== 0) {
      // star keeps times in the prefix field's tail and marks that with "tar\0" at 508.
      const star = block[508] === 0x74 && block[509] === 0x61 && block[510] === 0x72 && block[511] === 0
      name = `${readString(block, 345, star ? 131 : 155)}/${name}`
    }
    const mode = readNumber(block, 100, 8)
    const header: TarHeader = { name, linkname: block[157] === 0 ? '' : readString(block, 157, 100), type: TYPES[flag] ?? 'other', size: sizeField, mode: mode >= 0 ? mode : 0 }
    const pax = this.takeLongHeaders(header)
    let dataBytes = header.size
    // Pre-POSIX tars mark directories only with a trailing slash (on the full name).
    if (flag === 0 && header.name.endsWith('/')) header.type = 'directory'
    if (HEADER_ONLY.has(flag) || (flag === 0 && header.type === 'directory')) dataBytes = 0
    if (header.type === 'directory' || header.type === 'link' || header.type === 'symlink' || header.type === 'character-device' || header.type === 'block-device' || header.type === 'fifo') header.size = 0
    if (flag !== 49 && flag !== 50) header.linkname = ''
    if (flag === FLAG_GNU_SPARSE && gnu) return this.startGnuSparse(block, header, dataBytes)
    if (pax && header.type === 'file') {
      const sparse = paxSparse(pax, header)
      if (sparse === '1.0') {
        this.sparseMap = { kind: 'pax-1.0', header, dataBytes, segments: [], numbers: [], digits: '', expected: -1, mapBytes: 0 }
        return null
      }
      if (sparse) return this.open(header, dataBytes, sparse)
    }
    return this.open(header, dataBytes)
  }

  /** Announces an entry whose data section (`dataBytes` stored bytes) starts now. */
  private open(header: TarHeader, dataBytes: number, sparse?: Segment[]): TarEvent {
    if (sparse) checkSparse(sparse, header.size, dataBytes)
    this.body = { header, left: dataBytes, pad: padding(dataBytes), read: 0, sparse, segment: 0, segmentStart: 0 }
    this.collecting = undefined
    return { kind: 'entry', header }
  }

  /** Applies pending GNU long names and pax records to `h`; returns the pax records, if any. */
  private takeLongHeaders(h: TarHeader): Record<string, string> | undefined {
    const pax = this.pax
    this.pax = undefined
    if (pax) {
      if (pax.path) h.name = pax.path
      if (pax.linkpath) h.linkname = pax.linkpath
      if (pax.size) h.size = paxNumber(pax, 'size')
    }
    // Go applies GNU long names after pax records.
    if (this.longName !== undefined) h.name = this.longName
    if (this.longLink !== undefined) h.linkname = this.longLink
    this.longName = this.longLink = undefined
    return pax
  }

  private applyMeta(flag: number, body: Buffer): void {
    if (flag === FLAG_LONG_NAME) this.longName = readString(body, 0, body.length)
    else if (flag === FLAG_LONG_LINK) this.longLink = readString(body, 0, body.length)
    else if (flag === FLAG_PAX_GLOBAL) this.paxGlobal = { ...this.paxGlobal, ...parsePax(body) }
    else this.pax = { ...this.paxGlobal, ...this.pax, ...parsePax(body) }
  }

  /** Old GNU sparse (`S`): four fragments in the header, more in extension blocks that follow it. */
  private startGnuSparse(block: Buffer, header: TarHeader, dataBytes: number): TarEvent | null {
    const realSize = readNumber(block, 483, 12)
    if (!(realSize >= 0) || !Number.isSafeInteger(realSize)) throw corrupt(`sparse file "${header.name}" has an invalid real size`)
    header.size = realSize
    const segments: Segment[] = []
    readGnuSegments(block, 386, 4, segments, header.name)
    if (block[482] === 0) return this.open(header, dataBytes, segments)
    this.sparseMap = { kind: 'gnu-extension', header, dataBytes, segments, numbers: [], digits: '', expected: -1, mapBytes: 0 }
    return null
  }

  private sparseMapBlock(s: SparseMapRead, block: Buffer): TarEvent | null {
    if (s.kind === 'gnu-extension') {
      readGnuSegments(block, 0, 21, s.segments, s.header.name)
      if (block[504] !== 0) return null
      this.sparseMap = undefined
      return this.open(s.header, s.dataBytes, s.segments)
    }
    // pax 1.0: the map is decimal lines at the head of the data section, padded to a block.
    s.mapBytes += BLOCK
    if (s.mapBytes > s.dataBytes || s.mapBytes > MAX_META_BYTES) throw corrupt(`sparse map of "${s.header.name}" overruns its entry`)
    for (let i = 0; i < BLOCK && s.numbers.length !== s.expected; i++) {
      const b = block[i]!
      if (b === 0x0a) {
        if (s.digits === '') throw corrupt(`sparse map of "${s.header.name}" has an empty line`)
        const n = Number(s.digits)
        s.digits = ''
        if (s.expected < 0) {
          if (n > MAX_SPARSE_SEGMENTS) throw corrupt(`sparse map of "${s.header.name}" lists ${n} fragments, over ${MAX_SPARSE_SEGMENTS}`)
          s.expected = 2 * n
        } else s.numbers.push(n)
      } else if (b >= 0x30 && b <= 0x39 && s.digits.length < 16) s.digits += String.fromCharCode(b)
      else throw corrupt(`sparse map of "${s.header.name}" is malformed`)
    }
    if (s.numbers.length !== s.expected) return null
    this.sparseMap = undefined
    const segments: Segment[] = []
    for (let i = 0; i < s.numbers.length; i += 2) segments.push({ offset: s.numbers[i]!, length: s.numbers[i + 1]! })
    const event = this.open(s.header, s.dataBytes - s.mapBytes, segments)
    return event
  }

  /** Copies the open entry's stored bytes into `c` until it holds its first `c.into.length` bytes. */
  private fill(c: { into: Buffer; filled: number }): void {
    const b = this.body!
    if (!b.sparse) {
      const before = c.filled
      this.copyInto(c)
      b.read += c.filled - before
      b.left -= c.filled - before
      return
    }
    const want = c.into.length
    const segments = b.sparse
    while (b.segment < segments.length) {
      const seg = segments[b.segment]!
      const within = b.read - b.segmentStart
      if (within === seg.length) {
        b.segment++
        b.segmentStart += seg.length
        continue
      }
      const logical = seg.offset + within
      if (logical >= want || this.buffered === 0) break
      const chunk = this.chunks[this.head]!
      const n = Math.min(seg.length - within, want - logical, chunk.length - this.at)
      chunk.copy(c.into, logical, this.at, this.at + n)
      this.advance(chunk, n)
      b.read += n
      b.left -= n
    }
    const next = segments[b.segment]
    const done = !next || next.offset + (b.read - b.segmentStart) >= want
    c.filled = done ? want : Math.min(want, next.offset + (b.read - b.segmentStart))
  }

  /** Drops up to `skip` bytes without touching them. */
  private discard(): void {
    while (this.skip > 0 && this.buffered > 0) {
      const chunk = this.chunks[this.head]!
      const n = Math.min(this.skip, chunk.length - this.at)
      this.advance(chunk, n)
      this.skip -= n
    }
  }

  private dropBuffered(): void {
    while (this.buffered > 0) this.advance(this.chunks[this.head]!, this.chunks[this.head]!.length - this.at)
  }

  private copyInto(target: { into: Buffer; filled: number }): void {
    while (target.filled < target.into.length && this.buffered > 0) {
      const chunk = this.chunks[this.head]!
      const n = Math.min(target.into.length - target.filled, chunk.length - this.at)
      chunk.copy(target.into, target.filled, this.at, this.at + n)
      target.filled += n
      this.advance(chunk, n)
    }
  }

  /** `n` bytes (n ≤ buffered); a view into the chunk when it holds them all, else a copy. */
  private take(n: number): Buffer {
    const chunk = this.chunks[this.head]!
    if (chunk.length - this.at >= n) {
      const view = chunk.subarray(this.at, this.at + n)
      this.advance(chunk, n)
      return view
    }
    const target = { into: this.scratch, filled: 0 }
    this.copyInto(target)
    return this.scratch
  }

  private advance(chunk: Buffer, n: number): void {
    this.at += n
    this.buffered -= n
    this.position += n
    if (this.at === chunk.length) {
      this.chunks[this.head++] = EMPTY
      this.at = 0
      if (this.head > 64 && this.head * 2 > this.chunks.length) {
        this.chunks.splice(0, this.head)
        this.head = 0
      }
    }
  }
}

const EMPTY = Buffer.alloc(0)

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK
}

function signedChecksum(block: Buffer): number {
  let sum = 8 * 32
  for (let i = 0; i < BLOCK; i++) {
    if (i === 148) i = 156
    const b = block[i]!
    sum += b < 128 ? b : b - 256
  }
  return sum
}

function readString(buf: Buffer, offset: number, length: number): string {
  let end = offset
  const max = offset + length
  while (end < max && buf[end] !== 0) end++
  return buf.toString('utf8', offset, end)
}

function readGnuSegments(block: Buffer, offset: number, count: number, into: Segment[], name: string): void {
  for (let i = 0; i < count; i++) {
    const at = offset + i * 24
    // An unused slot is all NULs; the map ends there.
    if (block[at] === 0 && block[at + 12] === 0) return
    const segOffset = readNumber(block, at, 12)
    const length = readNumber(block, at + 12, 12)
    if (!(segOffset >= 0) || !(length >= 0) || !Number.isSafeInteger(segOffset) || !Number.isSafeInteger(length)) throw corrupt(`sparse map of "${name}" has an invalid fragment`)
    if (into.length >= MAX_SPARSE_SEGMENTS) throw corrupt(`sparse map of "${name}" has over ${MAX_SPARSE_SEGMENTS} fragments`)
    into.push({ offset: segOffset, length })
  }
}

/** Fragments ascending, inside the real size, and together exactly the stored bytes. */
function checkSparse(segments: Segment[], realSize: number, stored: number): void {
  let end = 0
  let total = 0
  for (const s of segments) {
    if (s.offset < end || s.offset + s.length > realSize) throw corrupt('sparse map has overlapping or out-of-range fragments')
    end = s.offset + s.length
    total += s.length
  }
  if (total !== stored) throw corrupt(`sparse map covers ${total} bytes but the entry stores ${stored}`)
}

/** The sparse map of a GNU pax sparse file (0.0 and 0.1 in records; '1.0' when it is in the data). */
function paxSparse(pax: Record<string, string>, header: TarHeader): Segment[] | '1.0' | undefined {
  const major = pax['GNU.sparse.major']
  const minor = pax['GNU.sparse.minor']
  let version: string
  if (major !== undefined || minor !== undefined) version = `${major}.${minor}`
  else if (pax['GNU.sparse.map'] !== undefined) version = '0.1'
  else return undefined
  if (version !== '0.0' && version !== '0.1' && version !== '1.0') return undefined
  if (pax['GNU.sparse.name']) header.name = pax['GNU.sparse.name']
  if (pax['GNU.sparse.size'] !== undefined) header.size = paxNumber(pax, 'GNU.sparse.size')
  else if (pax['GNU.sparse.realsize'] !== undefined) header.size = paxNumber(pax, 'GNU.sparse.realsize')
  if (version === '1.0') return '1.0'
  const fields = (pax['GNU.sparse.map'] ?? '').split(',')
  if (fields.length % 2 !== 0 || fields.length / 2 > MAX_SPARSE_SEGMENTS) throw corrupt(`sparse map of "${header.name}" is malformed`)
  const segments: Segment[] = []
  for (let i = 0; fields.length > 1 && i < fields.length; i += 2) segments.push({ offset: decimal(fields[i]!, header.name), length: decimal(fields[i + 1]!, header.name) })
  return segments
}

function decimal(text: string, name: string): number {
  const n = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(n)) throw corrupt(`sparse map of "${name}" has an invalid number "${text.slice(0, 20)}"`)
  return n
}

function paxNumber(pax: Record<string, string>, key: string): number {
  const value = pax[key]!
  const n = /^\d{1,16}$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n)) throw corrupt(`pax ${key} "${value.slice(0, 20)}" is invalid`)
  return n
}

/** Octal (optionally space/NUL padded), or GNU base-256 when the high bit of the first byte is set. */
export function readNumber(buf: Buffer, offset: number, length: number): number {
  const first = buf[offset]!
  if (first & 0x80) {
    // Base-256: 0x80 marks positive, 0xff a two's-complement negative (never valid for a size).
    if (first !== 0x80) return -1
    let n = 0
    for (let i = offset + 1; i < offset + length; i++) n = n * 256 + buf[i]!
    return n
  }
  let i = offset
  const end = offset + length
  while (i < end && (buf[i] === 32 || buf[i] === 0)) i++
  let n = 0
  let digits = 0
  for (; i < end; i++) {
    const b = buf[i]!
    if (b === 32 || b === 0) break
    if (b < 48 || b > 55) return Number.NaN
    n = n * 8 + (b - 48)
    digits++
  }
  return digits === 0 ? 0 : n
}

/**
 * `"<len> key=value\n"` records; stops quietly at the first malformed one, like tar-stream.
 * GNU sparse 0.0 repeats `GNU.sparse.offset` / `GNU.sparse.numbytes`; those are gathered into
 * one `GNU.sparse.map` list, as Go's reader does.
 */
export function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {}
  const sparse: string[] = []
  let at = 0
  while (at < body.length) {
    let sp = at
    while (sp < body.length && body[sp] !== 32) sp++
    const len = Number.parseInt(body.toString('latin1', at, sp), 10)
    if (!(len > 0) || at + len > body.length || sp >= at + len) break
    const record = body.toString('utf8', sp + 1, at + len - 1)
    const eq = record.indexOf('=')
    if (eq < 0) break
    const key = record.slice(0, eq)
    const value = record.slice(eq + 1)
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') sparse.push(value)
    else out[key] = value
    at += len
  }
  if (sparse.length > 0) out['GNU.sparse.map'] = sparse.join(',')
  return out
}
