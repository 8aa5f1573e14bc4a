import { describe, expect, it } from 'vitest'
import { applyDelta, imageFindings, indexImage, type FindingsChanged } from '../../src/assess/index.js'
import { matchInventory } from '../../src/match/matcher.js'
import type { Finding } from '../../src/match/types.js'
import type { Inventory, Package } from '../../src/types.js'
import { digestOfText, fleet, seeded } from '../../bench/reassess-fleet.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { findingSet, fixedAt1420, importRecords, mismatches, readGo4985, realPools, tempStore } from './fixture.js'

noteSharedMissing('FindingsChanged presentation test')

/**
 * One variant (a module at one version) found at two paths is two packages. A delta re-matches
 * the variant once and shows its diff for each package: every image's event names the package it
 * holds, with that package's path, purl and pkgKey, not the variant's first-seen package.
 */
describe.skipIf(!HAS_SHARED)('FindingsChanged events', () => {
  it('show each package of a changed variant as the image holds it', async () => {
    const name = 'go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp'
    const t = tempStore()
    try {
      await importRecords(t, [readGo4985()], 'feed')
      const [base] = [...fleet(realPools(), { images: 1, snapshots: 1, apps: 1, appPackages: [10, 10], drift: 0 }, seeded(11))]
      const layer = base!.packages[base!.packages.length - 1]!.layer
      const at = (path: string, purl: string): Package => ({ ecosystem: 'Go', name, version: 'v1.42.0', purl, path, kind: 'lang', ...(layer ? { layer } : {}) })
      const collector = at('usr/local/bin/collector', `pkg:golang/${name}@v1.42.0`)
      const agent = at('opt/agent/bin/agent', `pkg:golang/${name}@v1.42.0?type=module`)
      const image = (tag: string, extra: Package[]): Inventory => ({
        ...base!,
        image: { ...base!.image, digest: digestOfText(`events-test:${tag}`) },
        packages: [...base!.packages, ...extra],
      })
      // Indexed in this order, the variant's own package is the collector's.
      const images = [image('collector', [collector]), image('agent', [agent]), image('both', [collector, agent])]
      for (const inv of images) indexImage(t.store, inv, matchInventory(t.store, inv))

      const report = await importRecords(t, [fixedAt1420(readGo4985())], 'update')
      const events: FindingsChanged[] = []
      const summary = applyDelta(t.store, report.delta, { onChange: (e) => events.push(e) })
      expect(summary.changedVariants).toBe(1)
      const shown = (e: FindingsChanged) => e.removed.map((f) => [f.id, f.path, f.purl, f.pkgKey]).sort()
      const expected = (pkgs: Package[]) => pkgs.map((p) => ['GO-2026-4985', p.path, p.purl, `Go|${name}|v1.42.0|${p.path}`]).sort()
      expect(new Map(events.map((e) => [e.digest, shown(e)]))).toEqual(
        new Map([
          [images[0]!.image.digest, expected([collector])],
          [images[1]!.image.digest, expected([agent])],
          [images[2]!.image.digest, expected([collector, agent])],
        ]),
      )
      for (const e of events) expect([e.added, e.changed, e.causes]).toEqual([[], [], ['GO-2026-4985']])
      expect(mismatches(t.store, images)).toEqual([])
    } finally {
      await t.done()
    }
  }, 60_000)

  it('keep apart layers that combine different changed packages', async () => {
    // Two packages of one variant that differ only where events do not look (licenses) both take
    // the variant's diff as it is. Layers holding the same set of changed packages share one
    // merged diff; a layer holding another version beside the same package must not get it.
    const trace = 'go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp'
    const metric = 'go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp'
    const t = tempStore()
    try {
      await importRecords(t, [readGo4985()], 'feed')
      const [base] = [...fleet(realPools(), { images: 1, snapshots: 1, apps: 1, appPackages: [10, 10], drift: 0 }, seeded(12))]
      const go = (name: string, version: string, layer: string, licenses: string[]): Package => ({
        ecosystem: 'Go', name, version, purl: `pkg:golang/${name}@${version}`, path: 'usr/local/bin/collector', kind: 'lang', licenses, layer: digestOfText(`events-test-layer:${layer}`),
      })
      const image = (tag: string, extra: Package[]): Inventory => ({
        ...base!,
        image: { ...base!.image, digest: digestOfText(`events-test:${tag}`) },
        packages: [...base!.packages, ...extra],
      })
      // v1.42.0 stops being affected (removed); v1.41.0 stays affected with a newer record (changed).
      const images = [
        image('trace-1.42-apache', [go(trace, 'v1.42.0', 'a', ['Apache-2.0']), go(metric, 'v1.42.0', 'a', ['Apache-2.0'])]),
        image('trace-1.42-mit', [go(trace, 'v1.42.0', 'c', ['MIT'])]),
        image('trace-1.41', [go(trace, 'v1.41.0', 'b', ['Apache-2.0']), go(metric, 'v1.42.0', 'b', ['Apache-2.0'])]),
      ]
      for (const inv of images) indexImage(t.store, inv, matchInventory(t.store, inv))
      const before = new Map(images.map((inv) => [inv.image.digest as string, imageFindings(t.store, inv.image.digest)!]))

      const report = await importRecords(t, [fixedAt1420(readGo4985())], 'update')
      const events: FindingsChanged[] = []
      applyDelta(t.store, report.delta, { onChange: (e) => events.push(e) })
      expect(events).toHaveLength(3)
      const named = (fs: readonly Finding[]) => fs.map((f) => `${f.name}@${f.installed}`).sort()
      const of = (inv: Inventory) => events.find((e) => e.digest === inv.image.digest)!
      expect([named(of(images[2]!).removed), named(of(images[2]!).changed.map((c) => c.after))]).toEqual([[`${metric}@v1.42.0`], [`${trace}@v1.41.0`]])
      // Every event takes its image from the old findings to the new, exactly.
      for (const e of events) {
        const key = (f: Finding) => `${f.pkgKey}|${f.id}`
        const gone = new Set([...e.removed, ...e.changed.map((c) => c.before)].map(key))
        const after = [...before.get(e.digest)!.filter((f) => !gone.has(key(f))), ...e.added, ...e.changed.map((c) => c.after)]
        expect(findingSet(after)).toEqual(findingSet(imageFindings(t.store, e.digest)!))
      }
      expect(mismatches(t.store, images)).toEqual([])
    } finally {
      await t.done()
    }
  }, 60_000)
})
