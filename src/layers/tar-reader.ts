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
 * Formats: ustar (prefix field), GNU (long name `L` / long link `K`, base-256 numbers), pax
 * (`x` path / linkpath / size; `g` globals merged into a following `x`, as tar-stream does).
 */

export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'contiguous-file' | 'other'

export interface TarHeader {
  name: string
  /** Hard or symbolic link target; '' for other entries. */
  linkname: string
  type: TarEntryType
  size: number
  mode: number
}

export type TarEvent = { kind: 'entry'; header: TarHeader } | { kind: 'body'; header: TarHeader; bytes: Buffer }

const BLOCK = 512
/** Pax and GNU long-name bodies are metadata; tar-stream refuses them past the same size. */
const MAX_META_BYTES = 4 * 1024 * 1024
const TYPES: Record<number, TarEntryType> = { 0: 'file', 48: 'file', 49: 'link', 50: 'symlink', 51: 'character-device', 52: 'block-device', 53: 'directory', 54: 'fifo', 55: 'contiguous-file' }
const META = new Set([0x78 /* x */, 0x67 /* g */, 0x4c /* L */, 0x4b /* K */])

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
  /** The entry last announced; its body starts `delivered` bytes in. */
  private current: TarHeader | undefined
  private delivered = 0
  private collecting: { into: Buffer; filled: number; announced: boolean } | undefined
  private meta: { flag: number; into: Buffer; filled: number } | undefined
  private longName: string | undefined
  private longLink: string | undefined
  private pax: Record<string, string> | undefined
  private paxGlobal: Record<string, string> | undefined
  private readonly scratch = Buffer.allocUnsafe(BLOCK)
  /** Uncompressed bytes consumed so far (for error messages). */
  position = 0

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /** Asks for the current entry's first `n` bytes (capped at its size) as the next `body` event. */
  collect(n: number): void {
    const h = this.current
    if (!h) throw new Error('TarReader.collect() without a current entry')
    const want = Math.min(n, h.size)
    const into = Buffer.allocUnsafe(want)
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
        this.copyInto(c)
        if (c.filled < c.into.length) return null
      }
      if (this.current) {
        const h = this.current
        if (c && !c.announced) {
          // Deliver, and keep the entry open: the caller may collect further into it.
          c.announced = true
          this.delivered = c.filled
          return { kind: 'body', header: h, bytes: c.into }
        }
        this.current = undefined
        this.collecting = undefined
        this.skip = h.size - this.delivered + padding(h.size)
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
      if (this.buffered < BLOCK) return null
      const block = this.take(BLOCK)
      const event = this.header(block)
      if (event) return event
    }
  }

  /** Throws ERR_LAYER_CORRUPT unless the input ended at an entry boundary. */
  end(): void {
    if (this.next() !== null) throw new Error('TarReader.end() with events pending')
    if (this.skip > 0 || this.buffered > 0 || this.current || this.meta) {
      throw corrupt(`tar stream is truncated (input ends ${this.skip > 0 ? 'inside an entry body' : 'inside a header'} at byte ${this.position + this.buffered})`)
    }
  }

  private header(block: Buffer): TarEvent | null {
    // The checksum field itself counts as eight spaces.
    let sum = 8 * 32
    for (let i = 0; i < 148; i++) sum += block[i]!
    for (let i = 156; i < BLOCK; i++) sum += block[i]!
    if (sum === 8 * 32) return null // an all-zero block: end-of-archive marker or padding
    const stored = readNumber(block, 148, 8)
    if (stored !== sum) throw corrupt(`invalid tar header checksum at byte ${this.position - BLOCK} (stored ${stored}, computed ${sum}): not a tar stream, or damaged`)
    const ustar = block[257] === 0x75 && block[258] === 0x73 && block[259] === 0x74 && block[260] === 0x61 && block[261] === 0x72
    if (!ustar) throw corrupt(`tar header at byte ${this.position - BLOCK} has no ustar magic (unknown tar format)`)
    const flag = block[156]!
    const size = readNumber(block, 124, 12)
    if (!(size >= 0) || !Number.isSafeInteger(size)) throw corrupt(`tar header at byte ${this.position - BLOCK} has an invalid size`)
    if (META.has(flag)) {
      if (size > MAX_META_BYTES) throw corrupt(`tar metadata entry of ${size} bytes exceeds ${MAX_META_BYTES}`)
      this.meta = { flag, into: Buffer.allocUnsafe(size), filled: 0 }
      return null
    }
    let name = readString(block, 0, 100)
    // POSIX ustar ("ustar\0") has a name prefix; GNU ("ustar  ") uses those bytes for other things.
    if (block[262] === 0 && block[345] !== 0) name = `${readString(block, 345, 155)}/${name}`
    let type = TYPES[flag] ?? 'other'
    // Pre-POSIX tars mark directories only with a trailing slash.
    if (type === 'file' && name.endsWith('/')) type = 'directory'
    const mode = readNumber(block, 100, 8)
    const header: TarHeader = { name, linkname: block[157] === 0 ? '' : readString(block, 157, 100), type, size, mode: mode >= 0 ? mode : 0 }
    this.applyLongHeaders(header)
    if (type === 'directory') header.size = 0
    this.current = header
    this.delivered = 0
    this.collecting = undefined
    return { kind: 'entry', header }
  }

  private applyLongHeaders(h: TarHeader): void {
    if (this.longName !== undefined) h.name = this.longName
    if (this.longLink !== undefined) h.linkname = this.longLink
    this.longName = this.longLink = undefined
    const pax = this.pax
    if (!pax) return
    this.pax = undefined
    if (pax.path) h.name = pax.path
    if (pax.linkpath) h.linkname = pax.linkpath
    if (pax.size) {
      const size = Number.parseInt(pax.size, 10)
      if (!(size >= 0) || !Number.isSafeInteger(size)) throw corrupt(`pax size "${pax.size}" is invalid`)
      h.size = size
    }
  }

  private applyMeta(flag: number, body: Buffer): void {
    if (flag === 0x4c) this.longName = readString(body, 0, body.length)
    else if (flag === 0x4b) this.longLink = readString(body, 0, body.length)
    else if (flag === 0x67) this.paxGlobal = parsePax(body)
    else this.pax = { ...this.paxGlobal, ...parsePax(body) }
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

function readString(buf: Buffer, offset: number, length: number): string {
  let end = offset
  const max = offset + length
  while (end < max && buf[end] !== 0) end++
  return buf.toString('utf8', offset, end)
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

/** `"<len> key=value\n"` records; stops quietly at the first malformed one, like tar-stream. */
export function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {}
  let at = 0
  while (at < body.length) {
    let sp = at
    while (sp < body.length && body[sp] !== 32) sp++
    const len = Number.parseInt(body.toString('latin1', at, sp), 10)
    if (!(len > 0) || at + len > body.length) break
    const record = body.toString('utf8', sp + 1, at + len - 1)
    const eq = record.indexOf('=')
    if (eq < 0) break
    out[record.slice(0, eq)] = record.slice(eq + 1)
    at += len
  }
  return out
}
