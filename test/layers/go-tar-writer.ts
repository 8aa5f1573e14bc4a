/**
 * The header forms Go's archive/tar Writer produces (Go 1.10 and later; `go` is not installed on
 * this machine, so the forms are written here from writer.go / format.go's documented rules):
 *
 * - Format unset: the first of USTAR, PAX, GNU that can hold the header. USTAR when the name is
 *   ASCII and fits 100 bytes or splits at a `/` into a 155-byte prefix and a 100-byte name
 *   (splitUSTARPath), the link target is ASCII and fits 100 bytes, and the size fits 11 octal
 *   digits; else PAX.
 * - `pax` (what containerd and BuildKit set, with times truncated to the second, so USTAR stays
 *   allowed): as above, but any xattr forces PAX. A PAX entry is an `x` header named
 *   `dir/PaxHeaders.0/file` (ASCII only, cut to 100 bytes, trailing slashes trimmed) with sorted
 *   records, then the main header: USTAR magic, the name and link target ASCII-filtered and cut to
 *   100 bytes, no prefix; a cut name ending in `/` loses its trailing slashes to a NUL.
 * - `gnu`: `././@LongLink` `L`/`K` entries for a name or link target over 100 bytes (NUL
 *   terminated), GNU magic, numbers in base-256 where octal does not fit.
 * Checksums are six octal digits, NUL, space.
 */

export type GoFormat = 'auto' | 'pax' | 'gnu'

export interface GoEntry {
  name: string
  kind: 'file' | 'dir' | 'symlink' | 'link'
  data?: Buffer
  linkname?: string
  /** SCHILY.xattr.* records (BuildKit writes file capabilities this way). */
  xattrs?: Record<string, string>
  /** A declared size with zero bytes of content streamed (for sizes past 8 GiB). */
  zeros?: number
}

const BLOCK = 512
const NAME = 100
const PREFIX = 155

function isASCII(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false
  return true
}

function toASCII(s: string): string {
  let out = ''
  for (const ch of s) if (ch.charCodeAt(0) < 0x80) out += ch
  return out
}

/** Go's splitUSTARPath. */
export function splitUSTARPath(name: string): [string, string] | undefined {
  let length = name.length
  if (length <= NAME || !isASCII(name)) return undefined
  if (length > PREFIX + 1) length = PREFIX + 1
  else if (name[length - 1] === '/') length--
  const i = name.lastIndexOf('/', length - 1)
  const nlen = name.length - i - 1
  if (i <= 0 || nlen > NAME || nlen === 0 || i > PREFIX) return undefined
  return [name.slice(0, i), name.slice(i + 1)]
}

function fitsInOctal(width: number, x: number): boolean {
  return x >= 0 && (width >= 12 || x < 8 ** (width - 1))
}

class Block {
  readonly b = Buffer.alloc(BLOCK)
  /** Go's formatter.formatString, including the trailing-slash guard. */
  string(offset: number, width: number, s: string): void {
    const bytes = Buffer.from(s, 'latin1')
    bytes.copy(this.b, offset, 0, Math.min(bytes.length, width))
    if (bytes.length < width) this.b[offset + bytes.length] = 0
    if (bytes.length > width && this.b[offset + width - 1] === 0x2f) {
      let n = width - 1
      while (n > 0 && bytes[n - 1] === 0x2f) n--
      this.b[offset + n] = 0
    }
  }
  octal(offset: number, width: number, x: number): void {
    if (!fitsInOctal(width, x)) x = 0
    this.string(offset, width, x.toString(8).padStart(width - 1, '0'))
  }
  numeric(offset: number, width: number, x: number): void {
    if (fitsInOctal(width, x)) return this.octal(offset, width, x)
    let v = BigInt(x)
    for (let i = width - 1; i >= 0; i--) {
      this.b[offset + i] = Number(v & 0xffn)
      v >>= 8n
    }
    this.b[offset] = this.b[offset]! | 0x80
  }
  format(kind: 'ustar' | 'gnu'): void {
    if (kind === 'gnu') this.b.write('ustar  \0', 257, 'latin1')
    else this.b.write('ustar\u000000', 257, 'latin1')
  }
  finish(): Buffer {
    this.b.fill(0x20, 148, 156)
    let sum = 0
    for (const x of this.b) sum += x
    this.b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
    return this.b
  }
}

const FLAGS = { file: '0', dir: '5', symlink: '2', link: '1' } as const

/** Go writes strings as UTF-8 bytes; Block.string takes latin1, so convert first. */
function bytesOf(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1')
}

function sizeOf(e: GoEntry): number {
  if (e.kind !== 'file') return 0
  return e.zeros ?? e.data?.length ?? 0
}

function template(e: GoEntry, name: string, linkname: string, num: 'octal' | 'numeric'): Block {
  const blk = new Block()
  blk.b.write(FLAGS[e.kind], 156, 'latin1')
  blk.string(0, 100, name)
  blk.string(157, 100, linkname)
  blk[num](100, 8, e.kind === 'dir' ? 0o755 : 0o644)
  blk[num](108, 8, 0)
  blk[num](116, 8, 0)
  blk[num](124, 12, sizeOf(e))
  blk[num](136, 12, 1_700_000_000)
  blk.string(265, 32, '')
  blk.string(297, 32, '')
  blk[num](329, 8, 0)
  blk[num](337, 8, 0)
  return blk
}

function rawFile(name: string, data: Buffer, flag: string, format: 'ustar' | 'gnu'): Buffer[] {
  let n = toASCII(name)
  if (n.length > NAME) n = n.slice(0, NAME)
  n = n.replace(/\/+$/, '')
  const blk = new Block()
  blk.b.write(flag, 156, 'latin1')
  blk.string(0, 100, n)
  blk.octal(100, 8, 0)
  blk.octal(108, 8, 0)
  blk.octal(116, 8, 0)
  blk.octal(124, 12, data.length)
  blk.octal(136, 12, 0)
  blk.format(format)
  return [blk.finish(), ...body(data)]
}

function body(data: Buffer): Buffer[] {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK
  return pad ? [data, Buffer.alloc(pad)] : [data]
}

function paxRecord(k: string, v: string): string {
  const len = Buffer.byteLength(k) + Buffer.byteLength(v) + 3
  let size = len + String(len).length
  let record = `${size} ${k}=${v}\n`
  if (Buffer.byteLength(record) !== size) {
    size = Buffer.byteLength(record)
    record = `${size} ${k}=${v}\n`
  }
  return record
}

/** Go's path.Join(path.Dir(name), "PaxHeaders.0", path.Base(name)), via path.Split. */
function paxHeaderName(name: string): string {
  const slash = name.lastIndexOf('/')
  const dir = name.slice(0, slash + 1)
  const file = name.slice(slash + 1)
  const parts = [dir, 'PaxHeaders.0', file].filter((p) => p !== '').join('/')
  // path.Join cleans: collapse slashes and drop a trailing one.
  return parts.replace(/\/+/g, '/').replace(/\/$/, '')
}

/** The header blocks Go's Writer emits for one entry (its body follows them). */
export function goEntry(e: GoEntry, format: GoFormat): Buffer[] {
  const name = e.name
  const linkname = e.linkname ?? ''
  const size = sizeOf(e)
  const nameBytes = Buffer.byteLength(name)
  const linkBytes = Buffer.byteLength(linkname)
  const paxHdrs: Record<string, string> = {}
  let ustar = format !== 'gnu'
  if (!isASCII(name) || nameBytes > NAME) {
    paxHdrs.path = name
    if (!splitUSTARPath(name)) ustar = false
  }
  if (!isASCII(linkname) || linkBytes > NAME) {
    paxHdrs.linkpath = linkname
    ustar = false
  }
  if (!fitsInOctal(12, size)) {
    paxHdrs.size = String(size)
    ustar = false
  }
  for (const [k, v] of Object.entries(e.xattrs ?? {})) {
    paxHdrs[`SCHILY.xattr.${k}`] = v
    ustar = false
  }
  const out: Buffer[] = []
  if (format === 'gnu') {
    if (nameBytes > NAME) out.push(...rawFile('././@LongLink', Buffer.from(name + '\0'), 'L', 'gnu'))
    if (linkBytes > NAME) out.push(...rawFile('././@LongLink', Buffer.from(linkname + '\0'), 'K', 'gnu'))
    const blk = template(e, bytesOf(name), bytesOf(linkname), 'numeric')
    blk.format('gnu')
    out.push(blk.finish())
  } else if (ustar) {
    const split = splitUSTARPath(name)
    const blk = template(e, bytesOf(split ? split[1] : name), bytesOf(linkname), 'octal')
    if (split) blk.string(345, 155, split[0])
    blk.format('ustar')
    out.push(blk.finish())
  } else {
    const keys = Object.keys(paxHdrs).sort()
    const records = keys.map((k) => paxRecord(k, paxHdrs[k]!)).join('')
    out.push(...rawFile(paxHeaderName(name), Buffer.from(records), 'x', 'ustar'))
    const blk = template(e, toASCII(name), toASCII(linkname), 'octal')
    blk.format('ustar')
    out.push(blk.finish())
  }
  return out
}

function* zeroGen(n: number): Generator<Buffer> {
  const chunk = Buffer.alloc(1 << 20)
  for (let left = n + ((BLOCK - (n % BLOCK)) % BLOCK); left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left)
}

/** A whole archive as Go's Writer would write it (entries, then two zero blocks). */
export function goTar(entries: GoEntry[], format: GoFormat): Buffer {
  return Buffer.concat([...goTarChunks(entries, format)])
}

/** The same archive as a lazy chunk sequence: a `zeros` entry of any size costs one 1 MiB buffer. */
export function* goTarChunks(entries: GoEntry[], format: GoFormat): Generator<Buffer> {
  for (const e of entries) {
    yield* goEntry(e, format)
    if (e.kind !== 'file') continue
    if (e.zeros !== undefined) yield* zeroGen(e.zeros)
    else if (e.data) yield* body(e.data)
  }
  yield Buffer.alloc(2 * BLOCK)
}
