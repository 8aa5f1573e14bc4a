import { describe, expect, it } from 'vitest'
import { applyDelta, imageFindings, removeImage } from '../../src/assess/index.js'
import { variantsWithFindingId } from '../../src/store/findings.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { importRecords, indexedFleet, mismatches } from './fixture.js'

noteSharedMissing('assess departed-ids test')

/**
 * A variant's findings are read by the advisory ids compiled under its keys plus the ids that left
 * those lists (store/advisory-ids.ts). Between an import that withdraws a record and the
 * re-assessment of its keys, the withdrawn record's findings are still stored: they must stay
 * readable, be removed by the re-assessment, and never be left behind by an image removal.
 */
describe.skipIf(!HAS_SHARED)('findings of advisories that left a key', () => {
  it('stay readable until re-assessment removes them, and an image removal in between leaves none behind', async () => {
    const { pools, t, inventories } = await indexedFleet({ images: 24, snapshots: 2, apps: 6, appPackages: [30, 60], drift: 0.4 }, 11)
    try {
      // The real record with findings in the most variants.
      const hit = pools.osv.map((r) => ({ r, n: variantsWithFindingId(t.store, r.id).length })).sort((a, b) => b.n - a.n)[0]!
      expect(hit.n).toBeGreaterThan(1)
      const holders = inventories.filter((inv) => imageFindings(t.store, inv.image.digest)!.some((f) => f.id === hit.r.id))
      expect(holders.length).toBeGreaterThan(1)

      const report = await importRecords(t, [{ ...hit.r, modified: '2031-01-01T00:00:00Z', withdrawn: '2025-01-01T00:00:00Z' }], 'withdraw')
      expect(report.delta.packageKeys.length).toBeGreaterThan(0)
      const departed = report.delta.packageKeys.map((k) => t.store.departed.get(k) as string[] | undefined)
      expect(departed.every((ids) => ids?.includes(hit.r.id))).toBe(true)
      // Not re-assessed yet: the stored findings still show the withdrawn record.
      for (const inv of holders) expect(imageFindings(t.store, inv.image.digest)!.some((f) => f.id === hit.r.id)).toBe(true)

      // An image goes before the delta runs: the variants only it held take their findings along.
      const gone = holders[0]!
      expect(removeImage(t.store, gone.image.digest)).toBe(true)
      const rest = inventories.filter((inv) => inv !== gone)

      const summary = applyDelta(t.store, report.delta)
      expect(summary.changedVariants).toBeGreaterThan(0)
      expect(variantsWithFindingId(t.store, hit.r.id)).toEqual([])
      for (const key of report.delta.packageKeys) expect(t.store.departed.get(key)).toBeUndefined()
      expect(mismatches(t.store, rest)).toEqual([])
    } finally {
      await t.done()
    }
  }, 60_000)
})
