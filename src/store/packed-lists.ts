/**
 * Id lists held in memory as two typed arrays: owner o's ids are `ids[starts[o] .. starts[o + 1])`.
 *
 * Why not a Map of arrays: a feed delta walks the image lists of thousands of segments (every
 * segment holding a popular package) and marks tens of thousands of images. One array object per
 * list, reached through a Map, costs a hash lookup and two pointer hops per list and scatters the
 * ids over the heap; here the whole fleet's segment → images table is a few hundred KB of
 * contiguous memory that stays in cache, and walking it allocates nothing.
 *
 * Lists changed after packing (indexing by this process) move to `changed` as plain arrays;
 * once those grow past an eighth of the owners the table is packed again.
 */
export interface Span {
  ids: ArrayLike<number>
  from: number
  to: number
}

const NONE: readonly number[] = []

export class PackedLists {
  private starts: Uint32Array
  private ids: Uint32Array
  private readonly changed = new Map<number, number[]>()

  constructor(lists: ReadonlyMap<number, ArrayLike<number>>) {
    ;[this.starts, this.ids] = PackedLists.pack(lists)
  }

  private static pack(lists: ReadonlyMap<number, ArrayLike<number>>): [Uint32Array, Uint32Array] {
    let maxOwner = -1
    let total = 0
    for (const [owner, list] of lists) {
      if (owner > maxOwner) maxOwner = owner
      total += list.length
    }
    const starts = new Uint32Array(maxOwner + 2)
    for (const [owner, list] of lists) starts[owner + 1] = list.length
    for (let o = 1; o < starts.length; o++) starts[o]! += starts[o - 1]!
    const ids = new Uint32Array(total)
    for (const [owner, list] of lists) ids.set(list, starts[owner]!)
    return [starts, ids]
  }

  /** The owner's ids as a span of a shared array (read only); `into` is reused to avoid allocating. */
  span(owner: number, into: Span): Span {
    const changed = this.changed.size > 0 ? this.changed.get(owner) : undefined
    if (changed) {
      into.ids = changed
      into.from = 0
      into.to = changed.length
    } else {
      const [from, to] = this.packedRange(owner)
      into.ids = from < to ? this.ids : NONE
      into.from = from
      into.to = to
    }
    return into
  }

  /** The owner's ids (a copy-free view for packed lists; read only). */
  get(owner: number): ArrayLike<number> {
    const s = this.span(owner, { ids: NONE, from: 0, to: 0 })
    return s.ids === this.ids ? this.ids.subarray(s.from, s.to) : s.ids
  }

  add(owner: number, id: number): void {
    this.editable(owner).push(id)
  }

  /** Removes one id (order is not kept, as in the stored lists). */
  remove(owner: number, id: number): void {
    const list = this.editable(owner)
    const at = list.indexOf(id)
    if (at < 0) return
    list[at] = list[list.length - 1]!
    list.pop()
  }

  /** Number of owners holding a packed list or changed since packing. */
  get owners(): number {
    let n = this.changed.size
    for (let o = 0; o + 1 < this.starts.length; o++) if (this.starts[o + 1]! > this.starts[o]! && !this.changed.has(o)) n++
    return n
  }

  /** Number of ids over all owners. */
  get total(): number {
    let n = this.ids.length
    for (const [owner, list] of this.changed) {
      const [from, to] = this.packedRange(owner)
      n += list.length - (to - from)
    }
    return n
  }

  /** [from, to) of the owner's packed ids; empty for an owner beyond the packed table. */
  private packedRange(owner: number): [number, number] {
    return owner + 1 < this.starts.length ? [this.starts[owner]!, this.starts[owner + 1]!] : [0, 0]
  }

  private editable(owner: number): number[] {
    let list = this.changed.get(owner)
    if (!list) {
      if (this.changed.size >= Math.max(1024, (this.starts.length - 1) >> 3)) this.repack()
      list = Array.from(this.ids.subarray(...this.packedRange(owner)))
      this.changed.set(owner, list)
    }
    return list
  }

  private repack(): void {
    const lists = new Map<number, ArrayLike<number>>()
    for (let o = 0; o + 1 < this.starts.length; o++) {
      if (this.starts[o + 1]! > this.starts[o]!) lists.set(o, this.ids.subarray(this.starts[o]!, this.starts[o + 1]!))
    }
    for (const [owner, list] of this.changed) lists.set(owner, list)
    ;[this.starts, this.ids] = PackedLists.pack(lists)
    this.changed.clear()
  }
}
