import { VigilError } from '../../errors.js'

/**
 * rpm's "ndb" backend (Packages.db, SUSE): a 32-byte header, slot pages of 16-byte slots, and
 * blobs addressed in 16-byte blocks. Layout from rpm's lib/backend/ndb/rpmpkg.c, cross-read with
 * go-rpmdb; all integers little-endian. Yields the header blobs in slot order (rpm -qa order).
 */

const HEADER_MAGIC = 0x506d7052 // 'RpmP'
const SLOT_MAGIC = 0x746f6c53 // 'Slot'
const BLOB_MAGIC = 0x53626c42 // 'BlbS'
const PAGE_SIZE = 4096
const SLOT_SIZE = 16
const BLOCK_SIZE = 16
const BLOB_HEAD_SIZE = 16
// go-rpmdb's bound too: 2048 slot pages are half a million packages.
const MAX_SLOT_PAGES = 2048

function corrupt(message: string): VigilError {
  return new VigilError('ERR_PKGDB_CORRUPT', `rpm ndb: ${message}`)
}

export function isNdb(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === HEADER_MAGIC
}

export function ndbBlobs(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length < 32) throw corrupt('shorter than its header')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== HEADER_MAGIC) throw corrupt('bad header magic')
  if (view.getUint32(4, true) !== 0) throw corrupt(`unsupported version ${view.getUint32(4, true)}`)
  const slotPages = view.getUint32(12, true)
  if (slotPages === 0 || slotPages > MAX_SLOT_PAGES) throw corrupt(`slot page count ${slotPages} out of range`)
  const slotsEnd = slotPages * PAGE_SIZE
  if (slotsEnd > bytes.length) throw corrupt(`${slotPages} slot pages do not fit in ${bytes.length} bytes`)

  const blobs: Uint8Array[] = []
  // The first two slots' worth of bytes are the database header itself.
  for (let at = 2 * SLOT_SIZE; at < slotsEnd; at += SLOT_SIZE) {
    if (view.getUint32(at, true) !== SLOT_MAGIC) throw corrupt(`bad slot magic at offset ${at}`)
    const pkgIndex = view.getUint32(at + 4, true)
    if (pkgIndex === 0) continue // a free slot
    const blobAt = view.getUint32(at + 8, true) * BLOCK_SIZE
    if (blobAt < slotsEnd || blobAt + BLOB_HEAD_SIZE > bytes.length) throw corrupt(`package ${pkgIndex} blob offset ${blobAt} out of range`)
    if (view.getUint32(blobAt, true) !== BLOB_MAGIC) throw corrupt(`package ${pkgIndex}: bad blob magic`)
    if (view.getUint32(blobAt + 4, true) !== pkgIndex) throw corrupt(`package ${pkgIndex}: blob belongs to package ${view.getUint32(blobAt + 4, true)}`)
    const blobLen = view.getUint32(blobAt + 12, true)
    const start = blobAt + BLOB_HEAD_SIZE
    if (start + blobLen > bytes.length) throw corrupt(`package ${pkgIndex}: blob of ${blobLen} bytes runs past the file`)
    blobs.push(bytes.subarray(start, start + blobLen))
  }
  return blobs
}
