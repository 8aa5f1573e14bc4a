import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CHUNK, IdLists, type IdListDb } from '../../src/store/id-lists.js'
import { seeded } from '../../bench/reassess-fleet.js'
import { tempStore, type TempStore } from '../assess/fixture.js'

type Rng = () => number
type Model = Map<number, Set<number>>

const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1))

/** Every stored key and value of one owner, in key order. */
function stored(db: IdListDb, owner: number): { key: [number, number]; value: Buffer }[] {
  return [...db.getRange({ start: [owner], end: [owner + 1] })].map(({ key, value }) => ({ key: key as [number, number], value: value as Buffer }))
}

/**
 * Compares the owner's list, `has` and the stored chunks with the model; returns the problems
 * found (empty when all agree). Fast enough to run after every operation on lists of ~10k ids.
 */
function problems(lists: IdLists, db: IdListDb, model: Model, owner: number): string[] {
  const out: string[] = []
  const want = model.get(owner) ?? new Set<number>()
  const got = lists.list(owner)
  // Same ids as the model: equal counts, no repeats, none outside the model.
  if (got.length !== want.size) out.push(`list has ${got.length} ids, model ${want.size}`)
  else if (new Set(got).size !== got.length) out.push(`list repeats ids: ${got.filter((id, i) => got.indexOf(id) !== i).slice(0, 5).join(', ')}`)
  else {
    const extra = got.find((id) => !want.has(id))
    if (extra !== undefined) out.push(`list has ${extra}, which the model does not`)
  }
  if (lists.has(owner) !== want.size > 0) out.push(`has() is ${lists.has(owner)} with ${want.size} ids in the model`)

  const rows = stored(db, owner)
  if (want.size === 0) {
    if (rows.length > 0) out.push(`empty list still stores keys ${JSON.stringify(rows.map((r) => r.key))}`)
    return out
  }
  const head = rows[0]
  if (!head || head.key[1] !== 0) {
    out.push(`no head chunk [${owner}, 0]; keys ${JSON.stringify(rows.map((r) => r.key))}`)
    return out
  }
  if (head.value.byteLength < 4) {
    out.push(`head chunk is ${head.value.byteLength} bytes, shorter than its count header`)
    return out
  }
  const count = head.value.readUInt32LE(0)
  if (rows.length !== count) out.push(`head says ${count} chunks, ${rows.length} keys stored: ${JSON.stringify(rows.map((r) => r.key))}`)
  let total = 0
  rows.forEach(({ key, value }, i) => {
    if (key[0] !== owner || key[1] !== i) out.push(`key #${i} is ${JSON.stringify(key)}, expected [${owner}, ${i}]`)
    if (key[1] >= count) out.push(`chunk ${key[1]} stored beyond the count ${count}`)
    const bytes = i === 0 ? value.byteLength - 4 : value.byteLength
    if (bytes % 4 !== 0) out.push(`chunk ${key[1]} has ${bytes} id bytes, not a multiple of 4`)
    const ids = Math.floor(bytes / 4)
    if (ids === 0) out.push(`chunk ${key[1]} is stored empty`)
    if (ids > CHUNK) out.push(`chunk ${key[1]} holds ${ids} ids, more than CHUNK (${CHUNK})`)
    total += ids
  })
  if (total !== want.size) out.push(`stored chunks hold ${total} ids, model ${want.size}`)
  return out
}

describe('IdLists', () => {
  let t: TempStore
  let db: IdListDb
  let lists: IdLists
  beforeEach(() => {
    t = tempStore()
    db = t.store.segmentImages
    lists = new IdLists(db)
  })
  afterEach(async () => {
    await t.done()
  })
  const write = <T>(fn: () => T): T => t.store.root.transactionSync(fn)

  it('agrees with a model through a random sequence of appends and removals', () => {
    const rng = seeded(20240611)
    const owners = [0, 1, 7, 1000]
    const model: Model = new Map()
    const log: string[] = []
    // Fresh ids: an ascending counter with gaps, and some near the top of the uint32 range.
    let low = 5
    let high = 0xffffffff
    const fresh = (): number => (rng() < 0.05 ? high-- : (low += int(rng, 1, 50)))

    const fail = (owner: number, found: string[]): never => {
      throw new Error(`owner ${owner} after ${log.length} ops:\n  ${found.join('\n  ')}\nlast ops:\n  ${log.slice(-15).join('\n  ')}`)
    }
    const check = (owner: number): void => {
      const found = problems(lists, db, model, owner)
      if (found.length > 0) fail(owner, found)
    }
    const chunkCount = (owner: number): number => db.get([owner, 0])?.readUInt32LE(0) ?? 0
    let shrinks = 0
    const removeOne = (owner: number, id: number, present: boolean): void => {
      const set = model.get(owner)
      const nonEmptyBefore = (set?.size ?? 0) > 0
      if (present) set!.delete(id)
      const want = present ? set!.size > 0 : nonEmptyBefore
      const chunksBefore = chunkCount(owner)
      const got = lists.remove(owner, id)
      if (chunkCount(owner) < chunksBefore) shrinks++
      log.push(`remove(${owner}, ${id})${present ? '' : ' [absent]'} -> ${got}`)
      if (got !== want) fail(owner, [`remove returned ${got}, expected ${want}`])
      if (set?.size === 0) model.delete(owner)
    }

    const sorted = (ids: Iterable<number>): number[] => [...ids].sort((x, y) => x - y)
    let ops = 0
    let maxLen = 0
    let drained = 0
    let clears = 0
    for (let round = 0; round < 30; round++) {
      write(() => {
        for (let step = 0; step < 10; step++) {
          const owner = owners[int(rng, 0, owners.length - 1)]!
          const set = model.get(owner)
          const size = set?.size ?? 0
          const r = rng()
          if ((size > 5000 && rng() < 0.5) || (r > 0.95 && size > 0)) {
            // Keeps lists (and so the per-operation checks) small; clear is part of the API too.
            lists.clear(owner)
            model.delete(owner)
            log.push(`clear(${owner}) of ${size} ids`)
            clears++
          } else if (r < 0.4 || size === 0) {
            // Mostly small batches; now and then one that spans a few chunks.
            const n = rng() < 0.7 ? int(rng, 1, 64) : int(rng, 65, 2500)
            const ids = Array.from({ length: n }, fresh)
            const s = set ?? new Set<number>()
            for (const id of ids) s.add(id)
            model.set(owner, s)
            lists.append(owner, ids)
            log.push(`append(${owner}, ${n} ids ${ids[0]}..${ids[n - 1]}) -> ${s.size} ids`)
          } else if (r < 0.75) {
            // A run of removals of present ids, each checked on its own: a few, a hundred or so,
            // enough to bring the list just under a chunk boundary, or all of a short list.
            const kind = rng()
            const overBoundary = size - Math.floor((size - 1) / CHUNK) * CHUNK
            const n =
              kind < 0.55 ? int(rng, 1, Math.min(size, 5))
              : kind < 0.8 ? int(rng, 1, Math.min(size, 60))
              : kind < 0.92 ? Math.min(size, overBoundary + int(rng, 0, 3))
              : size <= 800 ? size
              : int(rng, 1, 5)
            const order = [...set!]
            for (let k = 0; k < n; k++) {
              const j = int(rng, k, order.length - 1)
              const id = order[j]!
              order[j] = order[k]!
              removeOne(owner, id, true)
              check(owner)
            }
            if (!model.has(owner)) drained++
          } else if (r < 0.87) {
            // An id the list does not hold: nothing changes, remove reports the list non-empty.
            removeOne(owner, fresh(), false)
          } else {
            // An owner that has no list: remove says so and creates nothing.
            const absent = 5000 + int(rng, 0, 10)
            removeOne(absent, 17, false)
            check(absent)
          }
          check(owner)
          maxLen = Math.max(maxLen, model.get(owner)?.size ?? 0)
          ops++
        }
        // Every owner, including ones not touched in this transaction, is intact.
        for (const o of owners) {
          check(o)
          expect(sorted(lists.list(o))).toEqual(sorted(model.get(o) ?? []))
        }
      })
      // And the committed state reads the same outside the transaction.
      for (const o of owners) check(o)
    }
    // The sequence did what it is meant to exercise.
    expect(ops).toBe(300)
    expect(clears).toBeGreaterThan(0)
    expect(maxLen).toBeGreaterThan(3 * CHUNK)
    expect(drained).toBeGreaterThan(3)
    expect(shrinks).toBeGreaterThan(5)
  })

  it('removing every id leaves no key for the owner, and remove then returns false', () => {
    const rng = seeded(7)
    const ids = Array.from({ length: 3 * CHUNK + 77 }, (_, i) => i * 3 + 1)
    write(() => {
      lists.append(4, ids.slice(0, 1500))
      lists.append(4, ids.slice(1500))
      lists.append(5, [9, 10, 11])
    })
    expect(stored(db, 4).map((r) => r.key)).toEqual([[4, 0], [4, 1], [4, 2], [4, 3]])
    const order = [...ids]
    for (let i = order.length - 1; i > 0; i--) {
      const j = int(rng, 0, i)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
    }
    write(() => {
      order.forEach((id, k) => {
        expect(lists.remove(4, id)).toBe(k < order.length - 1)
      })
    })
    expect(stored(db, 4)).toEqual([])
    expect(lists.has(4)).toBe(false)
    expect(lists.list(4)).toEqual([])
    expect(write(() => lists.remove(4, ids[0]!))).toBe(false)
    expect(write(() => lists.remove(4, 123456))).toBe(false)
    expect(stored(db, 4)).toEqual([])
    // The neighbour is untouched.
    expect(lists.list(5).sort((a, b) => a - b)).toEqual([9, 10, 11])
    // And the owner can start over.
    write(() => lists.append(4, [42]))
    expect(lists.list(4)).toEqual([42])
    expect(stored(db, 4).map((r) => r.key)).toEqual([[4, 0]])
  })

  it('forEach visits exactly the ids of list', () => {
    const rng = seeded(99)
    const ids = Array.from({ length: 2 * CHUNK + 500 }, (_, i) => (i * 2654435761) >>> 0)
    write(() => {
      lists.append(8, ids.slice(0, 700))
      lists.append(8, ids.slice(700))
      for (let k = 0; k < 900; k++) lists.remove(8, ids[int(rng, 0, ids.length - 1)]!)
    })
    const seen: number[] = []
    lists.forEach(8, (id) => seen.push(id))
    expect(seen.length).toBeGreaterThan(CHUNK)
    expect(seen).toEqual(lists.list(8))
    expect(new Set(seen).size).toBe(seen.length)
    let calls = 0
    lists.forEach(9, () => calls++)
    expect(calls).toBe(0)
  })

  it('clear drops every key of the owner and nothing else', () => {
    const a = Array.from({ length: 2 * CHUNK + 3 }, (_, i) => i + 1)
    write(() => {
      lists.append(10, a)
      lists.append(11, [1, 2, 3])
      lists.append(9, [4])
      lists.append(10, [999999])
    })
    expect(stored(db, 10).length).toBe(3)
    write(() => lists.clear(10))
    expect(stored(db, 10)).toEqual([])
    expect(lists.has(10)).toBe(false)
    expect(lists.list(10)).toEqual([])
    expect(lists.list(9)).toEqual([4])
    expect(lists.list(11)).toEqual([1, 2, 3])
    // Clearing an owner without a list, and appending nothing, store nothing.
    write(() => {
      lists.clear(12)
      lists.append(12, [])
    })
    expect(stored(db, 12)).toEqual([])
    expect(lists.has(12)).toBe(false)
  })
})
