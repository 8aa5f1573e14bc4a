import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { importFeeds, importRecords, type ImportReport } from '../../src/match/index.js'
import { osvToItems } from '../../src/feeds/osv.js'
import { readRecord } from '../../src/store/advisories.js'
import type { AdvisoryRecord } from '../../src/match/model.js'
import { readFileSync } from 'node:fs'
import { tempStore } from './helpers.js'

noteSharedMissing('re-import of the shared OSV records')

/** Ids that two files of ../shared/data/advisories/osv carry with the same `modified` and different content. */
const SAME_MODIFIED = ['GO-2023-2412', 'GO-2023-2413', 'GO-2024-2683', 'GO-2024-2687', 'GO-2025-3487', 'PYSEC-2018-27', 'PYSEC-2019-156', 'PYSEC-2021-63', 'PYSEC-2023-120']

describe.skipIf(!HAS_SHARED)('importing the same directory twice', () => {
  const t = tempStore()
  let first: ImportReport
  let second: ImportReport
  beforeAll(async () => {
    first = await importFeeds(t.store, [sharedPath('advisories/osv')])
    second = await importFeeds(t.store, [sharedPath('advisories/osv')])
  }, 120_000)
  afterAll(() => t.done())

  it('changes nothing the second time, though nine ids come in two files with one modified time', () => {
    expect([second.added, second.changed, second.withdrawn]).toEqual([0, 0, 0])
    expect(second.delta).toEqual({ changed: [], withdrawn: [], ids: [], packageKeys: [] })
    expect(first.changed).toBe(0) // each key counted once, under its first outcome
  })

  it('reports every extra copy as ERR_FEED_DUPLICATE_ID, the same each time', () => {
    const dupIds = (r: ImportReport) => [...new Set(r.errors.filter((e) => e.code === 'ERR_FEED_DUPLICATE_ID').map((e) => e.id))].sort()
    for (const id of SAME_MODIFIED) expect(dupIds(first)).toContain(id)
    expect(dupIds(second)).toEqual(dupIds(first))
    expect(second.duplicates).toBe(first.duplicates)
    expect(first.duplicates).toBe(first.errors.filter((e) => e.code === 'ERR_FEED_DUPLICATE_ID').length)
  })
})

describe.skipIf(!HAS_SHARED)('two copies of one id', () => {
  const a = sharedPath('advisories/osv/pypi/PYSEC-2021-63.json')
  const b = sharedPath('advisories/osv/misc/PyPI/PYSEC-2021-63__google_osv.dev.json')
  const recordOf = (file: string) => {
    const [item] = [...osvToItems(JSON.parse(readFileSync(file, 'utf8')), file)]
    return item?.kind === 'record' ? item.record : undefined
  }

  it('PYSEC-2021-63 (pypi/ and osv.dev copies, both modified 2021-02-19T17:23:00Z): the same copy is kept in either file order', async () => {
    const kept: (AdvisoryRecord | undefined)[] = []
    for (const order of [[a, b], [b, a]]) {
      const t = tempStore()
      try {
        const report = await importFeeds(t.store, order)
        expect([report.added, report.duplicates]).toEqual([1, 1])
        kept.push(readRecord(t.store, 'PYSEC-2021-63'))
        const again = await importFeeds(t.store, order)
        expect([again.added, again.changed, again.unchanged]).toEqual([0, 0, 1])
      } finally {
        await t.done()
      }
    }
    expect(kept[0]).toBeDefined()
    expect(kept[1]).toEqual(kept[0])
  })

  it('a copy that loses to the stored one is still written when no other copy comes (the feed changed)', async () => {
    const t = tempStore()
    try {
      for (const [file, outcome] of [[a, 'added'], [b, 'changed'], [a, 'changed'], [b, 'changed']] as const) {
        const report = await importFeeds(t.store, [file])
        expect(report[outcome]).toBe(1)
        expect(readRecord(t.store, 'PYSEC-2021-63')).toEqual(recordOf(file))
      }
    } finally {
      await t.done()
    }
  })

  it('importRecords keeps the same copy of a key given twice', async () => {
    const [ra, rb] = [recordOf(a)!, recordOf(b)!]
    const kept: (AdvisoryRecord | undefined)[] = []
    for (const order of [[ra, rb], [rb, ra]]) {
      const t = tempStore()
      try {
        expect(importRecords(t.store, order).duplicates).toBe(1)
        kept.push(readRecord(t.store, 'PYSEC-2021-63'))
      } finally {
        await t.done()
      }
    }
    expect(kept[1]).toEqual(kept[0])
  })
})
