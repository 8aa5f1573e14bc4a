import { describe, expect, it } from 'vitest'
import { applyDelta, ensureSchema, imageFindings, indexImage, pendingWork, resumePending, type FindingsChanged } from '../../src/assess/index.js'
import { imagesAffectedBy, imagesWithPackage } from '../../src/assess/query.js'
import { matchInventory } from '../../src/match/matcher.js'
import { packagesUnder, variantsUnder } from '../../src/store/postings.js'
import { storeKey } from '../../src/match/keys.js'
import type { Inventory, Package } from '../../src/types.js'
import { fleet, seeded } from '../../bench/reassess-fleet.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { fixedAt1420, importRecords, mismatches, readGo4985, realPools, tempStore } from './fixture.js'

noteSharedMissing('long package key test')

/**
 * Package names long enough that lmdb-js reads their posting keys back split at the NUL between
 * ecosystem and name (store/postings.ts readPostingKey). Go module paths get there: GO-2026-4985
 * names go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp, 66 characters as a key.
 * Read as [store key, variant, package], such a key gave the name as the variant and the variant
 * as the package: deltas skipped the package and queries missed or misnamed its images.
 */
describe.skipIf(!HAS_SHARED)('postings of long package names', () => {
  it('are re-assessed by a delta and found by the queries', async () => {
    const record = readGo4985()
    const names = ['go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp', 'go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp']
    const t = tempStore()
    try {
      await importRecords(t, [record], 'feed')
      const [base] = [...fleet(realPools(), { images: 1, snapshots: 1, apps: 1, appPackages: [10, 10], drift: 0 }, seeded(5))]
      const layer = base!.packages[base!.packages.length - 1]!.layer
      const goPackages: Package[] = names.map((name) => ({ ecosystem: 'Go', name, version: 'v1.42.0', purl: `pkg:golang/${name}@v1.42.0`, path: 'usr/local/bin/collector', kind: 'lang', ...(layer ? { layer } : {}) }))
      const inv: Inventory = { ...base!, packages: [...base!.packages, ...goPackages] }
      const digest = inv.image.digest as string
      indexImage(t.store, inv, matchInventory(t.store, inv))

      // Variant and package ids come back as numbers, under the key as written.
      for (const name of names) {
        const key = storeKey('Go', name)
        expect(key.length).toBeGreaterThanOrEqual(66)
        const variants = variantsUnder(t.store, key)
        expect(variants).toHaveLength(1)
        expect(typeof variants[0]).toBe('number')
        expect([...packagesUnder(t.store, key).keys()]).toEqual(variants)
      }
      expect(imageFindings(t.store, digest)!.filter((f) => f.id === 'GO-2026-4985').map((f) => f.name).sort()).toEqual([...names].sort())
      expect(imagesWithPackage(t.store, `pkg:golang/${names[0]}`).map((h) => [h.digest, h.name, h.version])).toEqual([[digest, names[0], 'v1.42.0']])
      expect(imagesAffectedBy(t.store, 'CVE-2026-39882').map((h) => [h.digest, h.name, h.path]).sort()).toEqual(names.map((n) => [digest, n, 'usr/local/bin/collector']).sort())

      // The record now says 1.42.0 fixed it: both findings go, in one event for the image.
      const report = await importRecords(t, [fixedAt1420(record)], 'update')
      const events: FindingsChanged[] = []
      applyDelta(t.store, report.delta, { onChange: (e) => events.push(e) })
      expect(events.map((e) => [e.digest, e.removed.map((f) => f.name).sort(), e.added.length, e.changed.length, e.causes])).toEqual([[digest, [...names].sort(), 0, 0, ['GO-2026-4985']]])
      expect(mismatches(t.store, [inv])).toEqual([])
      expect(imagesAffectedBy(t.store, 'GO-2026-4985')).toEqual([])
    } finally {
      await t.done()
    }
  }, 60_000)

  it('left stale by deltas before the fix are re-assessed once, from ensureSchema', async () => {
    const record = readGo4985()
    const name = 'go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp'
    const t = tempStore()
    try {
      await importRecords(t, [record], 'feed')
      const [base] = [...fleet(realPools(), { images: 1, snapshots: 1, apps: 1, appPackages: [10, 10], drift: 0 }, seeded(6))]
      const layer = base!.packages[base!.packages.length - 1]!.layer
      const go: Package = { ecosystem: 'Go', name, version: 'v1.42.0', purl: `pkg:golang/${name}@v1.42.0`, path: 'usr/local/bin/collector', kind: 'lang', ...(layer ? { layer } : {}) }
      const inv: Inventory = { ...base!, packages: [...base!.packages, go] }
      indexImage(t.store, inv, matchInventory(t.store, inv))
      expect(mismatches(t.store, [inv])).toEqual([])
      // What a store of the old code holds: the record changed, the delta skipped the package.
      await importRecords(t, [fixedAt1420(record)], 'update')
      expect(mismatches(t.store, [inv])).toEqual([inv.image.digest])
      t.store.meta.removeSync('repair:long-posting-keys')

      expect(ensureSchema(t.store)).toBe('current')
      const queued = pendingWork(t.store)
      expect(queued).toHaveLength(1)
      const events: FindingsChanged[] = []
      resumePending(t.store, { onChange: (e) => events.push(e) })
      expect(events.map((e) => [e.digest, e.removed.map((f) => `${f.id} ${f.name}`)])).toEqual([[inv.image.digest, [`GO-2026-4985 ${name}`]]])
      expect(mismatches(t.store, [inv])).toEqual([])
      // Once: a second open queues nothing.
      expect(ensureSchema(t.store)).toBe('current')
      expect(pendingWork(t.store)).toEqual([])
    } finally {
      await t.done()
    }
  }, 60_000)
})
