import { describe, expect, it } from 'vitest'
import { applyDelta, indexImages, reassessAfterImport, removeImage, imageFindings, warmIndex, type FindingsChanged } from '../../src/assess/index.js'
import { matchInventory } from '../../src/match/matcher.js'
import type { Finding } from '../../src/match/types.js'
import { fleet, mutateRecord, pick, seeded } from '../../bench/reassess-fleet.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { findingSet, importRecords, mismatches, realPools, tempStore } from './fixture.js'

noteSharedMissing('assess property test')

describe.skipIf(!HAS_SHARED)('index-driven re-assessment equals a full re-match', () => {
  for (const seed of [1, 7, 42, 1337]) {
    it(`seed ${seed}: random fleet, random real-advisory deltas`, async () => {
      const rng = seeded(seed)
      const pools = realPools()
      const t = tempStore()
      try {
        // Hold some real records back so that later deltas can add them.
        const held = pools.osv.filter(() => rng() < 0.15)
        const initial = pools.osv.filter((r) => !held.includes(r))
        await importRecords(t, initial, 'initial', pools.feedFiles)
        // Every fifth image reports some packages with other licenses: the same variant shown the
        // same way (path, purl), but package records of their own, which events must keep apart.
        const inventories = [...fleet(pools, { images: 40, snapshots: 3, apps: 8, appPackages: [20, 60], drift: 0.3 }, rng)].map((inv, i) =>
          i % 5 === 4 ? { ...inv, packages: inv.packages.map((p) => (rng() < 0.3 ? { ...p, licenses: ['LicenseRef-rescanned'] } : p)) } : inv,
        )
        // Half the images arrive with the scan's findings, half are matched by the index itself.
        indexImages(t.store, inventories.map((inventory, i) => (i % 2 ? { inventory, findings: matchInventory(t.store, inventory) } : { inventory })))
        expect(mismatches(t.store, inventories)).toEqual([])
        // Two seeds run the deltas on the warmed index (image lists packed in memory, kept
        // current by this process's removals and re-indexing below), two on lists read per delta.
        if (seed === 7 || seed === 1337) warmIndex(t.store)
        const hits = inventories.reduce((n, inv) => n + (imageFindings(t.store, inv.image.digest)?.length ?? 0), 0)
        expect(hits).toBeGreaterThan(0)

        let live = inventories
        let totalEvents = 0
        for (let round = 0; round < 3; round++) {
          const before = new Map(live.map((inv) => [inv.image.digest, imageFindings(t.store, inv.image.digest)!]))
          const changed = initial.filter(() => rng() < 0.2).map((r) => mutateRecord(r, pools, rng, `2030-01-0${round + 1}T00:00:00Z`))
          const added = held.filter(() => rng() < 0.3)
          const report = await importRecords(t, [...changed, ...added], `delta-${round}`)
          const events: FindingsChanged[] = []
          const opts = { onChange: (e: FindingsChanged) => events.push(e), batchSize: 1 + Math.floor(rng() * 40) }
          // Both entry points: the CLI's (queued first) and the daemon's (one commit per batch).
          if (round % 2 === 0) reassessAfterImport(t.store, report, opts)
          else applyDelta(t.store, report.delta, opts)
          expect(mismatches(t.store, live)).toEqual([])
          totalEvents += events.length
          // Events are exact: before + added − removed (± changed) = after, image by image.
          const byDigest = new Map<string, FindingsChanged[]>()
          for (const e of events) byDigest.set(e.digest, [...(byDigest.get(e.digest) ?? []), e])
          for (const inv of live) {
            let state = [...before.get(inv.image.digest)!]
            for (const e of byDigest.get(inv.image.digest) ?? []) state = applyEvent(state, e)
            expect(findingSet(state)).toEqual(findingSet(imageFindings(t.store, inv.image.digest)!))
          }
          // Churn the fleet: drop one image, re-index another with drifted packages.
          const gone = pick(rng, live)
          expect(removeImage(t.store, gone.image.digest)).toBe(true)
          live = live.filter((i) => i !== gone)
          const target = pick(rng, live)
          const next = { ...target, packages: target.packages.filter(() => rng() < 0.9) }
          indexImages(t.store, [{ inventory: next }])
          live = live.map((i) => (i === target ? next : i))
          expect(mismatches(t.store, live)).toEqual([])
        }
        // The deltas really moved findings (otherwise the equalities above prove little).
        expect(totalEvents).toBeGreaterThan(0)
      } finally {
        await t.done()
      }
    }, 60_000)
  }
})

function applyEvent(state: Finding[], e: FindingsChanged): Finding[] {
  const key = (f: Finding) => `${f.pkgKey}|${f.id}`
  const removed = new Set(e.removed.map(key))
  const changed = new Map(e.changed.map((c) => [key(c.before), c.after]))
  const out: Finding[] = []
  for (const f of state) {
    if (removed.has(key(f))) {
      removed.delete(key(f))
      continue
    }
    out.push(changed.get(key(f)) ?? f)
  }
  return [...out, ...e.added]
}
