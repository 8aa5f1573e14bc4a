import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { open } from 'lmdb'
import { describe, expect, it } from 'vitest'
import { openStore, PAGE_SIZE, STORE_SCHEMA_VERSION, type Store } from '../../src/store/env.js'
import { readSchemaVersion, schemaState, SCHEMA_KEY } from '../../src/store/schema.js'
import { defaultMatcher, ensureSchema, imageFindings, postingKeys, readInventory } from '../../src/assess/index.js'
import { encodeIds } from '../../src/store/images.js'
import type { Finding } from '../../src/match/types.js'
import type { Inventory, Package } from '../../src/types.js'
import { fleet, seeded } from '../../bench/reassess-fleet.js'
import { postingCount } from '../../src/store/postings.js'
import { FindingsReader } from '../../src/store/findings.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { importRecords, indexedFleet, mismatches, realPools, tempStore } from '../assess/fixture.js'

noteSharedMissing('store schema test')

describe('store schema version', () => {
  it('a new store gets the current version', async () => {
    const t = tempStore()
    try {
      expect(readSchemaVersion(t.store)).toBe(STORE_SCHEMA_VERSION)
      expect(ensureSchema(t.store)).toBe('current')
    } finally {
      await t.done()
    }
  })

  it('a new store gets PAGE_SIZE pages; a store made with 4 KiB pages keeps them and is read and written', async () => {
    const t = tempStore()
    try {
      expect(t.store.root.getStats()).toMatchObject({ pageSize: PAGE_SIZE })
    } finally {
      await t.done()
    }
    const dir = mkdtempSync(join(tmpdir(), 'vigil-pages-'))
    try {
      mkdirSync(join(dir, 'store'))
      // What every store written before PAGE_SIZE looks like: the OS's 4 KiB pages.
      const old = open({ path: join(dir, 'store'), pageSize: 4096, compression: false })
      const meta = old.openDB({ name: 'meta' })
      meta.putSync(SCHEMA_KEY, STORE_SCHEMA_VERSION)
      meta.putSync('probe', 'written with 4 KiB pages')
      await old.close()
      const store = openStore(dir)
      try {
        expect(store.root.getStats()).toMatchObject({ pageSize: 4096 })
        expect(ensureSchema(store)).toBe('current')
        expect(store.meta.get('probe')).toBe('written with 4 KiB pages')
        store.meta.putSync('probe', 'and again')
      } finally {
        await store.close()
      }
      const again = openStore(dir)
      expect(again.meta.get('probe')).toBe('and again')
      await again.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a store written by newer code is refused with ERR_STORE_SCHEMA, never read', async () => {
    const t = tempStore()
    await t.store.meta.put(SCHEMA_KEY, STORE_SCHEMA_VERSION + 1)
    expect(() => schemaState(t.store)).toThrow(expect.objectContaining({ code: 'ERR_STORE_SCHEMA' }))
    await t.store.close()
    let caught: unknown
    try {
      openStore(t.dir)
    } catch (err) {
      caught = err
    }
    expect(caught).toMatchObject({ code: 'ERR_STORE_SCHEMA' })
    expect(String((caught as Error).message)).toMatch(/newer than this vigil understands/)
    // Still refused on the next attempt: the refusal changed nothing.
    expect(() => openStore(t.dir)).toThrow(`schema version ${STORE_SCHEMA_VERSION + 1}`)
    rmSync(t.dir, { recursive: true, force: true })
  }, 20_000)
})

describe.skipIf(!HAS_SHARED)('an old store is rebuilt from its stored inventories', () => {
  it('pre-schema images (whole inventories, no index) are re-indexed exactly', async () => {
    const pools = realPools()
    const t = tempStore()
    try {
      await importRecords(t, pools.osv, 'feed', pools.feedFiles)
      const inventories = [...fleet(pools, { images: 12, snapshots: 2, apps: 4, appPackages: [20, 40], drift: 0.4 }, seeded(5))]
      // What a store looked like before the schema existed: images held whole inventories.
      await t.store.root.transaction(() => {
        for (const inv of inventories) t.store.images.put(inv.image.digest, inv)
        t.store.meta.remove(SCHEMA_KEY)
      })
      expect(schemaState(t.store)).toBe('old')
      expect(imageFindings(t.store, inventories[0]!.image.digest)).toBeUndefined()
      expect(ensureSchema(t.store)).toBe('rebuilt')
      expect(readSchemaVersion(t.store)).toBe(STORE_SCHEMA_VERSION)
      expect(postingCount(t.store)).toBeGreaterThan(0)
      expect(mismatches(t.store, inventories)).toEqual([])
      expect(inventories.some((inv) => imageFindings(t.store, inv.image.digest)!.length > 0)).toBe(true)
    } finally {
      await t.done()
    }
  }, 60_000)

  it('a schema 2 store (a Finding per [advisory id, variant], and their index) is rebuilt and its databases dropped', async () => {
    const { t, inventories } = await indexedFleet({ images: 12, snapshots: 2, apps: 4, appPackages: [20, 40], drift: 0.4 }, 9)
    try {
      // Schema 2 kept one Finding per [advisory id, variant] and a [variant, advisory id] index.
      const legacy = t.store.root.openDB({ name: 'findings' })
      const index = t.store.root.openDB({ name: 'finding-index', encoding: 'binary' })
      const reader = new FindingsReader(t.store)
      await t.store.root.transaction(() => {
        for (const { key } of t.store.findings.getRange({})) {
          const id = (key as [string, number])[0]
          for (const variant of reader.variantsWith(id)) {
            legacy.put([id, variant], reader.finding(variant, id))
            index.put([variant, id], Buffer.alloc(0))
          }
        }
        t.store.findings.clearSync()
        t.store.meta.put(SCHEMA_KEY, 2)
      })
      expect(index.getCount()).toBeGreaterThan(0)
      expect(schemaState(t.store)).toBe('old')
      expect(ensureSchema(t.store)).toBe('rebuilt')
      expect(readSchemaVersion(t.store)).toBe(STORE_SCHEMA_VERSION)
      expect(t.store.root.openDB({ name: 'finding-index', encoding: 'binary' }).getCount()).toBe(0)
      expect(t.store.root.openDB({ name: 'findings' }).getCount()).toBe(0)
      expect(t.store.findings.getCount()).toBeGreaterThan(0)
      expect(mismatches(t.store, inventories)).toEqual([])
      expect(inventories.some((inv) => imageFindings(t.store, inv.image.digest)!.length > 0)).toBe(true)
    } finally {
      await t.done()
    }
  }, 60_000)

  it('schema 1 images (header + package ids, dupSort postings, per-variant findings) are re-indexed exactly', async () => {
    const pools = realPools()
    const t = tempStore()
    try {
      await importRecords(t, pools.osv, 'feed', pools.feedFiles)
      const inventories = [...fleet(pools, { images: 12, snapshots: 2, apps: 4, appPackages: [20, 40], drift: 0.4 }, seeded(7))]
      const written = writeSchema1(t.store, inventories)
      // Images share package records as schema 1 did, and some variants had findings.
      expect(written.packages).toBeLessThan(inventories.reduce((n, inv) => n + inv.packages.length, 0))
      expect(written.findings).toBeGreaterThan(0)
      const legacy = legacyDatabases(t.store)
      expect(legacy.postings.getCount()).toBeGreaterThan(0)
      expect(legacy.findingRefs.getCount()).toBeGreaterThan(0)
      expect(readSchemaVersion(t.store)).toBe(1)

      expect(schemaState(t.store)).toBe('old')
      expect(ensureSchema(t.store)).toBe('rebuilt')
      expect(readSchemaVersion(t.store)).toBe(STORE_SCHEMA_VERSION)
      for (const inv of inventories) expect(readInventory(t.store, inv.image.digest)).toEqual(inv)
      expect(mismatches(t.store, inventories)).toEqual([])
      expect(inventories.some((inv) => imageFindings(t.store, inv.image.digest)!.length > 0)).toBe(true)
      // The schema-1 databases are dropped (re-opening one that is gone creates it empty).
      const after = legacyDatabases(t.store)
      expect(after.postings.getCount()).toBe(0)
      expect(after.findingRefs.getCount()).toBe(0)
      expect(postingCount(t.store)).toBeGreaterThan(0)
      expect(ensureSchema(t.store)).toBe('current')
    } finally {
      await t.done()
    }
  }, 60_000)
})

function legacyDatabases(store: Store) {
  return {
    postings: store.root.openDB({ name: 'postings', dupSort: true, encoding: 'binary' }),
    findingRefs: store.root.openDB({ name: 'finding-refs', dupSort: true, encoding: 'binary' }),
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

/**
 * Fabricates what schema-1 code wrote for these inventories (no schema-1 code remains): image
 * records holding package ids in inventory order, one package record per distinct package (with
 * its layer) naming its variant, variant records, findings per variant, the dupSort `postings`
 * ([key, variant, package] → image ids) and `finding-refs` (id → variant ids), the id counters.
 */
function writeSchema1(store: Store, inventories: readonly Inventory[]): { packages: number; variants: number; findings: number } {
  const legacy = legacyDatabases(store)
  const packageIds = new Map<string, number>()
  const variantIds = new Map<string, number>()
  const variantOfPackage = new Map<number, number>()
  let findingCount = 0
  store.root.transactionSync(() => {
    let imageId = 0
    for (const inv of inventories) {
      const id = ++imageId
      store.imageIds.putSync(inv.image.digest, id)
      store.imageIds.putSync(id, inv.image.digest)
      const ids: number[] = []
      for (const pkg of inv.packages) {
        const identity = JSON.stringify([inv.os ?? null, pkg])
        let pid = packageIds.get(identity)
        if (pid === undefined) {
          const variantIdentity = JSON.stringify([inv.os?.ecosystem ?? '', pkg.ecosystem, pkg.name, pkg.version, pkg.source?.name ?? '', pkg.source?.version ?? '', pkg.osOwned === true])
          let vid = variantIds.get(variantIdentity)
          if (vid === undefined) {
            vid = variantIds.size + 1
            variantIds.set(variantIdentity, vid)
            const keys = postingKeys(defaultMatcher, pkg, inv.os)
            store.variants.putSync(vid, inv.os ? { pkg, keys, os: inv.os } : { pkg, keys })
            const findings: Finding[] = defaultMatcher.matchPackage(store, pkg, inv.os)
            findingCount += findings.length
            store.findings.putSync(vid as unknown as [string, number], findings)
            for (const f of findings.slice(0, 2)) legacy.findingRefs.putSync(f.id, u32(vid))
          }
          pid = packageIds.size + 1
          packageIds.set(identity, pid)
          variantOfPackage.set(pid, vid)
          store.packages.putSync(pid, { pkg: pkg satisfies Package, variant: vid })
        }
        ids.push(pid)
        const vid = variantOfPackage.get(pid)!
        const key = postingKeys(defaultMatcher, pkg, inv.os)[0]!
        legacy.postings.putSync([key, vid, pid], u32(id))
      }
      const record: Record<string, unknown> = { v: 1, id, image: inv.image, analyzerSet: inv.analyzerSet, createdAt: inv.createdAt, packages: encodeIds(ids) }
      if (inv.os) record.os = inv.os
      store.images.putSync(inv.image.digest, record)
    }
    // A stale per-variant findings entry that names no variant (schema 1 kept a list per variant id).
    store.findings.putSync((variantIds.size + 1000) as unknown as [string, number], [])
    legacy.findingRefs.putSync('CVE-0000-0000', u32(variantIds.size + 1000))
    store.meta.putSync('ids:image', imageId)
    store.meta.putSync('ids:package', packageIds.size)
    store.meta.putSync('ids:variant', variantIds.size)
    store.meta.putSync(SCHEMA_KEY, 1)
  })
  return { packages: packageIds.size, variants: variantIds.size, findings: findingCount }
}
