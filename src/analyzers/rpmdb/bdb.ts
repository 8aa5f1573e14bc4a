import { VigilError } from '../../errors.js'

/**
 * rpm's Berkeley DB hash database (`Packages`, RHEL ≤ 8, CentOS, Amazon Linux 2): page 0 is the
 * hash metadata page; hash pages hold key/value index pairs; each package header is an
 * off-page value stored in a chain of overflow pages. Layout from libdb's dbinc/db_page.h,
 * cross-read with go-rpmdb. The file is in the byte order of the machine that wrote it (the
 * magic tells which); the header blobs inside are always big-endian.
 */

const HASH_MAGIC = 0x061561
const PAGE_HEADER_SIZE = 26
const PAGE_TYPE_HASH_UNSORTED = 2 // RHEL/CentOS 5
const PAGE_TYPE_OVERFLOW = 7
const PAGE_TYPE_HASH_META = 8
const PAGE_TYPE_HASH = 13
const ITEM_OFFPAGE = 3 // H_OFFPAGE
const VALID_PAGE_SIZES = new Set([512, 1024, 2048, 4096, 8192, 16384, 32768, 65536])

function corrupt(message: string): VigilError {
  return new VigilError('ERR_PKGDB_CORRUPT', `rpm bdb: ${message}`)
}

export function isBdb(bytes: Uint8Array): boolean {
  if (bytes.length < 16) return false
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16)
  return view.getUint32(12, true) === HASH_MAGIC || view.getUint32(12, false) === HASH_MAGIC
}

export function bdbBlobs(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length < 512) throw corrupt('shorter than a metadata page')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const le = view.getUint32(12, true) === HASH_MAGIC
  if (!le && view.getUint32(12, false) !== HASH_MAGIC) throw corrupt('not a Berkeley DB hash database')
  const pageSize = view.getUint32(20, le)
  if (!VALID_PAGE_SIZES.has(pageSize)) throw corrupt(`page size ${pageSize} is not valid`)
  if (bytes[24] !== 0) throw corrupt('encrypted databases are not supported')
  if (bytes[25] !== PAGE_TYPE_HASH_META) throw corrupt(`page 0 has type ${bytes[25]}, not hash metadata`)
  const lastPage = view.getUint32(32, le)
  const pageCount = Math.floor(bytes.length / pageSize)
  // A truncated file: read the pages that are there, but never past them.
  if (lastPage >= pageCount) throw corrupt(`last page ${lastPage} is past the end of a ${pageCount}-page file`)

  const blobs: Uint8Array[] = []
  for (let page = 1; page <= lastPage; page++) {
    const base = page * pageSize
    const type = bytes[base + 25]
    if (type !== PAGE_TYPE_HASH && type !== PAGE_TYPE_HASH_UNSORTED) continue
    const entries = view.getUint16(base + 20, le)
    if (entries % 2 !== 0) throw corrupt(`hash page ${page} has an odd number of items`)
    if (PAGE_HEADER_SIZE + entries * 2 > pageSize) throw corrupt(`hash page ${page} index overflows the page`)
    // Items come in key/value pairs; only values stored off-page are package headers.
    for (let i = 1; i < entries; i += 2) {
      const item = view.getUint16(base + PAGE_HEADER_SIZE + i * 2, le)
      if (item < PAGE_HEADER_SIZE || item >= pageSize) throw corrupt(`hash page ${page} item offset ${item} out of range`)
      if (bytes[base + item] !== ITEM_OFFPAGE) continue
      if (item + 12 > pageSize) throw corrupt(`hash page ${page} off-page item at ${item} overruns the page`)
      const firstPage = view.getUint32(base + item + 4, le)
      const totalLength = view.getUint32(base + item + 8, le)
      blobs.push(overflowChain(bytes, view, le, pageSize, lastPage, firstPage, totalLength))
    }
  }
  return blobs
}

function overflowChain(bytes: Uint8Array, view: DataView, le: boolean, pageSize: number, lastPage: number, first: number, totalLength: number): Uint8Array {
  if (totalLength > bytes.length) throw corrupt(`off-page item claims ${totalLength} bytes in a ${bytes.length}-byte file`)
  const out = new Uint8Array(totalLength)
  let filled = 0
  let page = first
  // A chain can visit each page once at most; more means a loop.
  for (let hops = 0; page !== 0; hops++) {
    if (page > lastPage || hops > lastPage) throw corrupt(`overflow chain reaches page ${page} (loop or out of range)`)
    const base = page * pageSize
    if (bytes[base + 25] !== PAGE_TYPE_OVERFLOW) throw corrupt(`page ${page} in an overflow chain has type ${bytes[base + 25]}`)
    const next = view.getUint32(base + 16, le)
    // On overflow pages the "high free offset" field holds the length of data on the page.
    const length = next === 0 ? view.getUint16(base + 22, le) : pageSize - PAGE_HEADER_SIZE
    if (length > pageSize - PAGE_HEADER_SIZE || filled + length > totalLength) throw corrupt(`overflow page ${page} overruns its item`)
    out.set(bytes.subarray(base + PAGE_HEADER_SIZE, base + PAGE_HEADER_SIZE + length), filled)
    filled += length
    page = next
  }
  if (filled !== totalLength) throw corrupt(`off-page item has ${filled} of ${totalLength} bytes`)
  return out
}
