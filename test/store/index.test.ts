import { describe, expect, it } from 'vitest'
import { indexImage, removeImage, imageFindings, readInventory, warmIndex } from '../../src/assess/index.js'
import { matchInventory } from '../../src/match/matcher.js'
import { postingCount, variantsUnder, packagesOfVariant, packagesUnder, readPostingKey } from '../../src/store/postings.js'
import { digestOf, imageIdOf, lastSegmentId } from '../../src/store/images.js'
import { openStore } from '../../src/store/env.js'
import { IdLists } from '../../src/store/id-lists.js'
import { indexReader } from '../../src/store/segments.js'
import { storeKey } from '../../src/match/keys.js'
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
      for (const db of [t.store.postings, t.store.segments, t.store.segmentIds, t.store.segmentImages, t.store.packageSegments, t.store.packages, t.store.packageIds, t.store.variants, t.store.variantIds, t.store.findings, t.store.images]) {
        expect(db.getCount()).toBe(0)
      }
    } finally {
      await t.done()
    }
  }, 60_000)

  for (const warm of [false, true]) it(`kept image lists${warm ? ' (warmed: packed in memory)' : ''} follow writes made through another handle and through this one`, async () => {
    const pools = realPools()
    const t = tempStore()
    const other = openStore(t.dir, { mapSize: 2 * 1024 ** 3 })
    // Warmed before anything is indexed: every later list change must reach the packed lists.
    if (warm) for (const store of [t.store, other]) warmIndex(store)
    try {
      await importRecords(t, pools.osv.slice(0, 20), 'feed')
      // One base snapshot: every image holds the same base packages (and their segment).
      const images = [...fleet(pools, { images: 6, snapshots: 1, apps: 3, appPackages: [10, 20], drift: 0 }, seeded(1))]
      // The package of image 0 that most of the fleet holds: its holders cross both handles' writes.
      const holding = (p: { ecosystem: string; name: string }) => images.filter((inv) => inv.packages.some((q) => q.ecosystem === p.ecosystem && q.name === p.name))
      const base = [...images[0]!.packages].sort((a, b) => holding(b).length - holding(a).length)[0]!
      expect(holding(base).length).toBeGreaterThanOrEqual(4)
      const key = storeKey(base.ecosystem, base.name)
      const expected = (invs: typeof images) => digests(invs.filter((inv) => holding(base).includes(inv)))
      const digests = (invs: typeof images) => invs.map((i) => i.image.digest as string).sort()
      const holders = (store: typeof t.store) => {
        const out = new Set<string>()
        for (const variant of variantsUnder(store, key)) for (const { images: ids } of packagesOfVariant(store, key, variant)) for (const id of ids) out.add(digestOf(store, id)!)
        return [...out].sort()
      }
      // Every kept list (segment → images, package → segments), read through the handle's
      // reader after it has read them all once, equals what the store holds.
      const sortedIds = (ids: ArrayLike<number>) => Array.from(ids).sort((a, b) => a - b)
      const stale = (store: typeof t.store): string[] => {
        const reader = indexReader(store)
        const images = new IdLists(store.segmentImages)
        const segments = new IdLists(store.packageSegments)
        const out: string[] = []
        for (let s = 1; s <= lastSegmentId(store); s++) {
          if (JSON.stringify(sortedIds(reader.imagesOf(s))) !== JSON.stringify(sortedIds(images.list(s)))) out.push(`segment ${s} images`)
        }
        for (let p = 1; p <= ((store.meta.get('ids:package') as number | undefined) ?? 0); p++) {
          if (JSON.stringify(sortedIds(reader.segmentsOf(p))) !== JSON.stringify(sortedIds(segments.list(p)))) out.push(`package ${p} segments`)
        }
        // The kept key → packages lists (the first check fills them), against the postings.
        const stored = new Map<string, Map<number, number[]>>()
        for (const k of store.postings.getKeys({})) {
          const [key, variant, pkg] = readPostingKey(k)
          const under = stored.get(key) ?? stored.set(key, new Map()).get(key)!
          under.set(variant, [...(under.get(variant) ?? []), pkg])
        }
        for (const key of new Set([...stored.keys(), ...keysSeen])) {
          keysSeen.add(key)
          if (JSON.stringify([...packagesUnder(store, key)]) !== JSON.stringify([...(stored.get(key) ?? [])])) out.push(`key ${key} packages`)
        }
        return out
      }
      const keysSeen = new Set<string>()
      const check = (store: typeof t.store, invs: typeof images) => {
        expect(holders(store)).toEqual(expected(invs))
        expect(stale(store)).toEqual([])
      }
      for (const inv of images.slice(0, 3)) indexImage(t.store, inv)
      check(t.store, images.slice(0, 3))
      // Written through the other handle (as another process would): this handle's kept lists are stale.
      // (lmdb renews a handle's read snapshot on a timer turn, as a process reading would.)
      const turn = () => new Promise((resolve) => setTimeout(resolve, 5))
      for (const inv of images.slice(3)) indexImage(other, inv)
      await turn()
      check(t.store, images)
      expect(removeImage(other, images[0]!.image.digest)).toBe(true)
      await turn()
      check(t.store, images.slice(1))
      // Written through this handle: its kept lists take the change, the other handle rereads.
      check(other, images.slice(1))
      expect(removeImage(t.store, images[1]!.image.digest)).toBe(true)
      check(t.store, [images[0]!, ...images.slice(2)].filter((i) => i !== images[0]))
      indexImage(t.store, images[0]!)
      check(t.store, [images[0]!, ...images.slice(2)])
      // Image 2 again with its application layer rebuilt: a new segment for packages whose kept
      // segment lists this handle holds.
      const appLayer = images[2]!.packages[images[2]!.packages.length - 1]!.layer
      const rebuilt = { ...images[2]!, packages: images[2]!.packages.map((p) => (p.layer === appLayer ? { ...p, layer: digestOfText('rebuilt app layer') } : p)) }
      indexImage(t.store, rebuilt)
      check(t.store, [images[0]!, ...images.slice(2)])
      await turn()
      check(other, [images[0]!, ...images.slice(2)])
    } finally {
      await other.close()
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
