import { rmSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { openStore, STORE_SCHEMA_VERSION } from '../../src/store/env.js'
import { readSchemaVersion, schemaState, SCHEMA_KEY } from '../../src/store/schema.js'
import { ensureSchema, imageFindings } from '../../src/assess/index.js'
import { fleet, seeded } from '../../bench/reassess-fleet.js'
import { postingCount } from '../../src/store/postings.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { importRecords, mismatches, realPools, tempStore } from '../assess/fixture.js'

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
})
