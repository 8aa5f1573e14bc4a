import { describe, expect, it } from 'vitest'
import { seeded } from '../../bench/reassess-fleet.js'
import { comparatorFor } from '../../src/match/compare.js'
import type { RangeEvent } from '../../src/match/model.js'
import { compileRange, inRange } from '../../src/match/ranges.js'

/**
 * The compiled intervals against the OSV spec's own evaluation (ossf.github.io/osv-schema,
 * "Evaluation"), run per version over random event lists. Versions are PyPI integers drawn from
 * a small pool so that ties between events are common; the reference compares them as numbers,
 * so it shares nothing with the compiler but the tie order the spec leaves open (fixed before
 * introduced before last_affected at one version: the union of the range's intervals).
 */
const KINDS = ['introduced', 'fixed', 'last_affected', 'limit'] as const
const RANK: Record<(typeof KINDS)[number], number> = { fixed: 0, limit: 0, introduced: 1, last_affected: 2 }

function kindOf(e: RangeEvent): (typeof KINDS)[number] {
  return KINDS.find((k) => e[k] !== undefined)!
}

function reference(v: number, events: readonly RangeEvent[]): boolean {
  const limits = events.filter((e) => e.limit !== undefined).map((e) => Number(e.limit))
  if (limits.length > 0 && !limits.some((l) => v < l)) return false
  const walk = events
    .filter((e) => e.limit === undefined)
    .map((e) => ({ kind: kindOf(e), at: e.introduced === '0' ? -Infinity : Number(e[kindOf(e)]) }))
    .sort((a, b) => a.at - b.at || RANK[a.kind] - RANK[b.kind])
  let vulnerable = false
  for (const e of walk) {
    if (e.kind === 'introduced' && v >= e.at) vulnerable = true
    else if (e.kind === 'fixed' && v >= e.at) vulnerable = false
    else if (e.kind === 'last_affected' && v > e.at) vulnerable = false
  }
  return vulnerable
}

function randomEvents(rng: () => number): RangeEvent[] {
  const n = 1 + Math.floor(rng() * 7)
  const events: RangeEvent[] = []
  if (rng() < 0.5) events.push({ introduced: '0' })
  for (let i = 0; i < n; i++) {
    const r = rng()
    const kind = r < 0.45 ? 'introduced' : r < 0.8 ? 'fixed' : r < 0.95 ? 'last_affected' : 'limit'
    events.push({ [kind]: String(1 + Math.floor(rng() * 6)) } as RangeEvent)
  }
  // The file may list events in any order.
  for (let i = events.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[events[i], events[j]] = [events[j]!, events[i]!]
  }
  return events
}

describe('OSV range compilation agrees with the spec evaluation', () => {
  const cmp = comparatorFor('PyPI', 'ECOSYSTEM')!
  const probes = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7]

  for (const seed of [1, 2, 3, 18]) {
    it(`seed ${seed}: 2,000 random event lists, ties included`, () => {
      const rng = seeded(seed)
      let ties = 0
      for (let round = 0; round < 2000; round++) {
        const events = randomEvents(rng)
        const versions = events.map((e) => e[kindOf(e)])
        if (new Set(versions).size < versions.length) ties++
        const compiled = compileRange({ type: 'ECOSYSTEM', events }, cmp)
        for (const v of probes) {
          const got = inRange(String(v), compiled, cmp) !== undefined
          if (got !== reference(v, events)) {
            expect({ events, version: v, compiled: got }).toEqual({ events, version: v, compiled: reference(v, events) })
          }
        }
      }
      // The pool is small on purpose: most lists have a tie.
      expect(ties).toBeGreaterThan(1000)
    })
  }

  it('touching intervals give the same answer in either file order', () => {
    const a: RangeEvent[] = [{ introduced: '0' }, { fixed: '2' }, { introduced: '2' }, { fixed: '4' }]
    const b: RangeEvent[] = [{ introduced: '2' }, { fixed: '4' }, { introduced: '0' }, { fixed: '2' }]
    for (const events of [a, b]) {
      const compiled = compileRange({ type: 'ECOSYSTEM', events }, cmp)
      expect(probes.filter((v) => inRange(String(v), compiled, cmp))).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5])
    }
  })
})
