import { describe, expect, it } from 'vitest'
import { indexImage, removeImage, imageFindings, readInventory } from '../../src/assess/index.js'
import { matchInventory } from '../../src/match/matcher.js'
import { postingCount, variantsUnder, packagesOfVariant } from '../../src/store/postings.js'
import { imageIdOf } from '../../src/store/images.js'
import { digestOfText, fleet, seeded } from '../../bench/reassess-fleet.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { importRecords, realPools, tempStore } from '../assess/fixture.js'

noteSharedMissing('store index test')

describe.skipIf(!HAS_SHARED)('images, packages, variants and postings', () => {
  it('shares records between images, replaces on re-index, leaves nothing behind on removal', async () => {
    const pools = realPools()
    const t = tempStore()
    try {
      await importRecords(t, pools.osv, 'feed', pools.feedFiles)
      const [a] = [...fleet(pools, { images: 1, snapshots: 1, apps: 1, appPackages: [40, 40], drift: 0 }, seeded(3))]
      // b is built on a's layers (all but its first ten packages).
      const b = { ...a!, image: { ...a!.image, digest: digestOfText('image b') }, packages: a!.packages.slice(10) }
      indexImage(t.store, a!, matchInventory(t.store, a!))
      indexImage(t.store, b!)
      expect(readInventory(t.store, a!.image.digest)).toEqual(a)
      expect(imageFindings(t.store, b!.image.digest)).toEqual(matchInventory(t.store, b!))
      // One posting per (image, package, key); a package two images share is stored once.
      const postings = postingCount(t.store)
      expect(postings).toBeGreaterThanOrEqual(a!.packages.length + b!.packages.length)
      const shared = a!.packages.filter((p) => b!.packages.some((q) => JSON.stringify(p) === JSON.stringify(q))).length
      expect(t.store.packages.getCount()).toBe(new Set([...a!.packages, ...b!.packages].map((p) => JSON.stringify(p))).size)
      expect(shared).toBeGreaterThan(0)
      const key = `PyPI\0${a!.packages.find((p) => p.ecosystem === 'PyPI')!.name.toLowerCase().replace(/[-_.]+/g, '-')}`
      const variants = variantsUnder(t.store, key)
      expect(variants.length).toBeGreaterThan(0)
      const images = [...packagesOfVariant(t.store, key, variants[0]!)].flatMap((p) => p.images)
      expect(images).toContain(imageIdOf(t.store, a!.image.digest))

      // Re-index a with half its packages: the other half's postings go.
      const smaller = { ...a!, packages: a!.packages.slice(0, Math.floor(a!.packages.length / 2)) }
      indexImage(t.store, smaller)
      expect(readInventory(t.store, a!.image.digest)).toEqual(smaller)
      expect(postingCount(t.store)).toBeLessThan(postings)
      expect(imageFindings(t.store, a!.image.digest)).toEqual(matchInventory(t.store, smaller))

      expect(removeImage(t.store, a!.image.digest)).toBe(true)
      expect(removeImage(t.store, a!.image.digest)).toBe(false)
      expect(removeImage(t.store, b!.image.digest)).toBe(true)
      for (const db of [t.store.postings, t.store.segments, t.store.segmentIds, t.store.segmentImages, t.store.packageSegments, t.store.packages, t.store.packageIds, t.store.variants, t.store.variantIds, t.store.findings, t.store.findingRefs, t.store.images]) {
        expect(db.getCount()).toBe(0)
      }
    } finally {
      await t.done()
    }
  }, 60_000)

  it('rejects a malformed inventory with a stable code', async () => {
    const t = tempStore()
    try {
      expect(() => indexImage(t.store, { image: { digest: 'nope' } } as never)).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_INVALID' }))
    } finally {
      await t.done()
    }
  })
})
