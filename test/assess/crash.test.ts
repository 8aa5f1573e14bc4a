import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openStore } from '../../src/store/env.js'
import { indexImages, pendingWork, resumePending } from '../../src/assess/index.js'
import { fleet, mutateRecord, seeded } from '../../bench/reassess-fleet.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { importRecords, mismatches, realPools, runChildAndKill, tempStore } from './fixture.js'

noteSharedMissing('assess crash test')

/** Runs the child until it has committed `killAfter` batches, then SIGKILLs it. */
const runAndKill = (dir: string, deltaFile: string, killAfter: number) => runChildAndKill('crash-child.ts', [dir, deltaFile], killAfter)

describe.skipIf(!HAS_SHARED)('re-assessment survives kill -9', () => {
  it('a killed re-assessment resumes and ends equal to a full re-match', async () => {
    const rng = seeded(99)
    const pools = realPools()
    const t = tempStore()
    try {
      await importRecords(t, pools.osv, 'initial', pools.feedFiles)
      const inventories = [...fleet(pools, { images: 120, snapshots: 3, apps: 10, appPackages: [30, 80], drift: 0.3 }, rng)]
      indexImages(t.store, inventories.map((inventory) => ({ inventory })))
      const changed = pools.osv.filter(() => rng() < 0.6).map((r) => mutateRecord(r, pools, rng, '2031-01-01T00:00:00Z'))
      const report = await importRecords(t, changed, 'delta')
      expect(report.delta.packageKeys.length).toBeGreaterThan(10)
      // The advisories moved on; the stored findings have not yet.
      expect(mismatches(t.store, inventories).length).toBeGreaterThan(0)
      const deltaFile = join(t.dir, 'delta.json')
      writeFileSync(deltaFile, JSON.stringify({ delta: report.delta, exploit: report.exploit }))
      await t.store.close()

      const run = await runAndKill(t.dir, deltaFile, 3)
      expect(run.finished).toBe(false)

      const store = openStore(t.dir, { mapSize: 2 * 1024 ** 3 })
      const [pending] = pendingWork(store)
      await store.close()
      expect(pending).toBeDefined()
      expect(pending!.next).toBeGreaterThan(0)
      expect(pending!.next).toBeLessThan(pending!.items)
      // A second crash, this time during the resume itself, then a clean resume.
      const again = await runAndKill(t.dir, '-', 2)
      expect(again.finished).toBe(false)
      const reopened = openStore(t.dir, { mapSize: 2 * 1024 ** 3 })
      try {
        resumePending(reopened)
        expect(pendingWork(reopened)).toEqual([])
        expect(mismatches(reopened, inventories)).toEqual([])
      } finally {
        await reopened.close()
      }
    } finally {
      await t.done().catch(() => undefined)
    }
  }, 90_000)
})
