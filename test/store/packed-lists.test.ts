import { describe, expect, it } from 'vitest'
import { PackedLists, type Span } from '../../src/store/packed-lists.js'
import { seeded } from '../../bench/reassess-fleet.js'

type Model = Map<number, number[]>

/** What the packed lists say about every owner 0..maxOwner, read both ways (get and span). */
function read(lists: PackedLists, maxOwner: number): { viaGet: Model; viaSpan: Model } {
  const viaGet: Model = new Map()
  const viaSpan: Model = new Map()
  const span: Span = { ids: [], from: 0, to: 0 }
  for (let owner = 0; owner <= maxOwner; owner++) {
    const got = Array.from(lists.get(owner))
    if (got.length) viaGet.set(owner, got.sort((a, b) => a - b))
    const { ids, from, to } = lists.span(owner, span)
    const spanned: number[] = []
    for (let i = from; i < to; i++) spanned.push(ids[i]!)
    if (spanned.length) viaSpan.set(owner, spanned.sort((a, b) => a - b))
  }
  return { viaGet, viaSpan }
}

function sorted(model: Model): Model {
  return new Map([...model].filter(([, ids]) => ids.length > 0).map(([o, ids]) => [o, [...ids].sort((a, b) => a - b)]))
}

describe('PackedLists (segment → images held in two typed arrays)', () => {
  it('packs lists as given, owners with no list read empty', () => {
    const lists = new PackedLists(new Map([[1, [5, 3]], [4, [9]], [2, []]]))
    expect(Array.from(lists.get(1))).toEqual([5, 3])
    expect(Array.from(lists.get(4))).toEqual([9])
    for (const owner of [0, 2, 3, 5, 1_000]) expect(lists.get(owner).length).toBe(0)
    expect(lists.total).toBe(3)
    expect(lists.owners).toBe(2)
  })

  it('follows random adds and removes against a model, across repacks', () => {
    const rng = seeded(99)
    const model: Model = new Map()
    const initial = new Map<number, number[]>()
    let nextId = 1
    for (let owner = 0; owner < 300; owner++) {
      if (rng() < 0.3) continue
      const ids = Array.from({ length: Math.floor(rng() * 12) }, () => nextId++)
      initial.set(owner, ids)
      model.set(owner, [...ids])
    }
    const lists = new PackedLists(initial)
    const maxOwner = 2_500
    for (let step = 0; step < 4_000; step++) {
      // New owners beyond the packed range too (segments created after packing), enough of
      // them to force several repacks (past 1,024 changed lists).
      const owner = Math.floor(rng() * (rng() < 0.5 ? 300 : maxOwner))
      const list = model.get(owner) ?? []
      if (list.length > 0 && rng() < 0.35) {
        const id = list[Math.floor(rng() * list.length)]!
        lists.remove(owner, id)
        list.splice(list.indexOf(id), 1)
      } else {
        const id = nextId++
        lists.add(owner, id)
        list.push(id)
      }
      model.set(owner, list)
      // Removing an id the list does not hold changes nothing.
      if (rng() < 0.05) lists.remove(owner, 0)
      if (step % 500 === 499) {
        const { viaGet, viaSpan } = read(lists, maxOwner)
        expect(viaGet).toEqual(sorted(model))
        expect(viaSpan).toEqual(sorted(model))
        expect(lists.total).toBe([...model.values()].reduce((n, l) => n + l.length, 0))
      }
    }
  })
})
