import type { Database } from 'lmdb'

/**
 * Unordered lists of uint32 ids, one list per owner id, stored as packed little-endian chunks:
 * `[owner, 0]` holds the number of chunks (first 4 bytes) and the first ids, `[owner, n]` the
 * rest, at most CHUNK ids each.
 *
 * Why not LMDB dupSort with one value per id: reading is what must be fast (a feed delta walks
 * the images of every segment that holds a changed package), and one `get` per CHUNK ids costs
 * ~0.6 µs where a cursor over duplicates costs ~3 µs per list plus a step per id. Writes come in
 * batches (indexing collects a transaction's appends per owner), so rewriting a tail chunk is
 * cheap. Removal swaps the last id into the hole: order is not kept.
 */
export const CHUNK = 1024

/** Ids inside a record (image segments, segment packages): uint32 big-endian, in order. */
export function encodeIds(ids: readonly number[]): Uint8Array {
  const out = Buffer.alloc(ids.length * 4)
  ids.forEach((id, i) => out.writeUInt32BE(id, i * 4))
  return out
}

export function decodeIds(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: number[] = new Array(bytes.byteLength >>> 2)
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4)
  return out
}

export type IdListDb = Database<Buffer, [number, number]>

function readIds(buf: Buffer, from: number): number[] {
  const out: number[] = []
  for (let i = from; i + 4 <= buf.byteLength; i += 4) out.push(buf.readUInt32LE(i))
  return out
}

function encode(ids: readonly number[], header?: number): Buffer {
  const off = header === undefined ? 0 : 4
  const buf = Buffer.allocUnsafe(off + ids.length * 4)
  if (header !== undefined) buf.writeUInt32LE(header, 0)
  for (let i = 0; i < ids.length; i++) buf.writeUInt32LE(ids[i]!, off + i * 4)
  return buf
}

/** The ids of one stored chunk (chunk 0 starts with the chunk count). */
function eachId(buf: Buffer, chunk: number, each: (id: number) => void): void {
  // lmdb sets `length` on its shared buffer to the value's size; byteLength is the buffer's.
  for (let i = chunk === 0 ? 4 : 0, n = buf.length; i + 4 <= n; i += 4) each(buf.readUInt32LE(i))
}

export class IdLists {
  constructor(private readonly db: IdListDb) {}

  has(owner: number): boolean {
    return this.db.get([owner, 0]) !== undefined
  }

  /**
   * Calls `each` with every id of the owner's list. Reads without copying (lmdb's shared read
   * buffer), so `each` must not read this store.
   */
  forEach(owner: number, each: (id: number) => void): void {
    let buf = this.db.getBinaryFast([owner, 0])
    if (!buf) return
    const chunks = buf.readUInt32LE(0)
    for (let c = 0; c < chunks; c++) {
      if (c > 0) buf = this.db.getBinaryFast([owner, c])
      if (!buf) continue
      eachId(buf, c, each)
    }
  }

  list(owner: number): number[] {
    const out: number[] = []
    this.forEach(owner, (id) => out.push(id))
    return out
  }

  /** Every owner's list, in one pass over the database (keys sort by owner, then chunk). */
  all(): Map<number, number[]> {
    const out = new Map<number, number[]>()
    let owner = -1
    let list: number[] = []
    const push = (id: number) => void list.push(id)
    for (const { key, value } of this.db.getRange({})) {
      const [o, chunk] = key
      if (o !== owner) out.set((owner = o), (list = []))
      eachId(value, chunk, push)
    }
    return out
  }

  /** Inside a write transaction. The caller keeps ids unique per owner. */
  append(owner: number, ids: readonly number[]): void {
    if (ids.length === 0) return
    const head = this.db.get([owner, 0])
    const before = head ? head.readUInt32LE(0) : 1
    const chunks = new Map<number, number[]>([[0, head ? readIds(head, 4) : []]])
    let last = before - 1
    if (last > 0) chunks.set(last, readIds(this.db.get([owner, last]) ?? Buffer.alloc(0), 0))
    let tail = chunks.get(last)!
    const dirty = new Set([last])
    for (const id of ids) {
      if (tail.length === CHUNK) {
        chunks.set(++last, (tail = []))
        dirty.add(last)
      }
      tail.push(id)
    }
    // The head carries the chunk count: rewritten whenever it changed.
    if (last + 1 !== before) dirty.add(0)
    this.write(owner, chunks, dirty, last + 1)
  }

  /** Removes one id; returns whether the list still has ids. Inside a write transaction. */
  remove(owner: number, id: number): boolean {
    const head = this.db.get([owner, 0])
    if (!head) return false
    const before = head.readUInt32LE(0)
    const chunks = new Map<number, number[]>([[0, readIds(head, 4)]])
    for (let c = 1; c < before; c++) chunks.set(c, readIds(this.db.get([owner, c]) ?? Buffer.alloc(0), 0))
    let at = -1
    for (const [c, list] of chunks) if (list.includes(id)) at = c
    if (at < 0) return true
    const lastChunk = chunks.get(before - 1)!
    const moved = lastChunk.pop()!
    if (moved !== id) {
      const hole = chunks.get(at)!
      hole[hole.indexOf(id)] = moved
    }
    const dirty = new Set([at, before - 1])
    let count = before
    if (lastChunk.length === 0 && count > 1) {
      this.db.removeSync([owner, count - 1])
      dirty.delete(count - 1)
      count--
      dirty.add(0)
    }
    if (count === 1 && chunks.get(0)!.length === 0) {
      this.db.removeSync([owner, 0])
      return false
    }
    this.write(owner, chunks, dirty, count)
    return true
  }

  private write(owner: number, chunks: Map<number, number[]>, dirty: Set<number>, count: number): void {
    for (const c of dirty) {
      if (c >= count) continue
      this.db.putSync([owner, c], c === 0 ? encode(chunks.get(0)!, count) : encode(chunks.get(c)!))
    }
  }

  /** Drops the whole list. Inside a write transaction. */
  clear(owner: number): void {
    const head = this.db.get([owner, 0])
    if (!head) return
    const chunks = head.readUInt32LE(0)
    for (let c = 0; c < chunks; c++) this.db.removeSync([owner, c])
  }
}
