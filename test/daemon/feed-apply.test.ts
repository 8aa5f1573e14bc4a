import { describe, expect, it } from 'vitest'
import { applyFeedDelta } from '../../src/daemon/feed.js'
import { pendingWork } from '../../src/assess/index.js'
import { variantsWithFindingId } from '../../src/store/findings.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { indexedFleet, mismatches } from '../assess/fixture.js'

noteSharedMissing('daemon feed-delta apply test')

describe.skipIf(!HAS_SHARED)('a feed delta is imported together with the re-assessment work it calls for', () => {
  it('a failure after the import leaves nothing imported, so the redelivered delta still re-assesses', async () => {
    const { pools, t, inventories } = await indexedFleet({ images: 16, snapshots: 2, apps: 4, appPackages: [30, 60], drift: 0.4 }, 17)
    try {
      const hit = pools.osv.find((r) => variantsWithFindingId(t.store, r.id).length > 0)!
      const holders = variantsWithFindingId(t.store, hit.id)

      // The withdrawal is written, then the EPSS part of the same message fails (a malformed
      // entry that skipped validation): the whole message must roll back, withdrawal included.
      const broken = { withdrawn: [hit.id], epss: { 'CVE-2024-0001': null } } as unknown as Parameters<typeof applyFeedDelta>[1]
      expect(() => applyFeedDelta(t.store, broken, 'test')).toThrow()
      expect(t.store.advisoryRecords.getCount()).toBeGreaterThan(0)
      expect(variantsWithFindingId(t.store, hit.id)).toEqual(holders)
      expect(pendingWork(t.store)).toEqual([])

      // Redelivered without the bad part: the withdrawal is news again and re-assesses.
      const applied = applyFeedDelta(t.store, { withdrawn: [hit.id] }, 'test')
      expect(applied.events.length).toBeGreaterThan(0)
      expect(applied.events.every((e) => e.removed.some((f) => f.id === hit.id))).toBe(true)
      expect(variantsWithFindingId(t.store, hit.id)).toEqual([])
      expect(mismatches(t.store, inventories)).toEqual([])
    } finally {
      await t.done()
    }
  }, 60_000)
})
