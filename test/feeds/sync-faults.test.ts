import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readUnitState, syncFeeds, type SyncOptions } from '../../src/feeds/sync.js'
import { advisoryStatus, keyString } from '../../src/store/advisories.js'
import type { Store } from '../../src/store/env.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { buildUpstream, startFeedServer, type FeedServer, type Upstream } from './feed-server.js'
import { tempStore } from './helpers.js'

noteSharedMissing('feed sync faults')

const KEV = 'kev/sites/default/files/feeds/known_exploited_vulnerabilities.json'
const EPSS = 'epss/epss_scores-current.csv.gz'

function options(server: FeedServer, extra: Partial<SyncOptions> = {}): SyncOptions {
  return {
    mirror: server.base,
    osvEcosystems: ['Go', 'PyPI'],
    alpineBranches: ['v3.10', 'v3.11'],
    // Generous next to loopback, tiny next to the stalled request; a cap far above any real secdb file.
    fetch: { timeoutMs: 1500, attempts: 2, baseDelayMs: 10 },
    maxBytes: { alpine: 4 * 1024 * 1024 },
    ...extra,
  }
}

function allKeys(store: Store): string[] {
  return [...store.advisoryRecords.getKeys({})].map(keyString).sort()
}

describe.skipIf(!HAS_SHARED)('feed sync faults: each a coded error for its unit, the rest imports, nothing half-imported', { timeout: 300_000 }, () => {
  let up: Upstream
  let server: FeedServer
  beforeAll(async () => {
    up = buildUpstream({ osv: { Go: 'advisories/osv/go', PyPI: 'advisories/osv/pypi' } })
    server = await startFeedServer(up.root)
  })
  afterAll(async () => {
    await server?.close()
    up?.done()
  })

  it('500, 429 with Retry-After, a reset mid-body, a truncated zip, a stalled server, an endless and a huge-declared body', async () => {
    const faulted = tempStore()
    const control = tempStore()
    try {
      server.faults.set(KEV, { kind: 'status', status: 500 })
      server.faults.set(EPSS, { kind: 'status', status: 429, retryAfter: '1' })
      server.faults.set('alpine/v3.10/main.json', { kind: 'reset' })
      server.faults.set('osv/PyPI/all.zip', { kind: 'truncate' })
      server.faults.set('debian/tracker/data/json', { kind: 'stall' })
      server.faults.set('alpine/v3.11/community.json', { kind: 'endless' })
      server.faults.set('alpine/v3.11/main.json', { kind: 'declared-huge' })
      const report = await syncFeeds(faulted.store, options(server))
      const codes = Object.fromEntries(report.units.map((u) => [u.unit, u.error?.code ?? u.status]))
      expect(codes).toEqual({
        'osv/Go': 'updated',
        'osv/PyPI': 'ERR_FEED_CORRUPT',
        debian: 'ERR_FEED_TIMEOUT',
        'alpine/v3.10/main': 'ERR_FEED_UNAVAILABLE',
        'alpine/v3.10/community': 'updated',
        'alpine/v3.11/main': 'ERR_FEED_TOO_LARGE',
        'alpine/v3.11/community': 'ERR_FEED_TOO_LARGE',
        epss: 'ERR_FEED_UNAVAILABLE',
        kev: 'ERR_FEED_UNAVAILABLE',
      })
      // 429 and 500 were retried (two attempts each); a too-large body is not worth a retry.
      expect(server.hits.filter((h) => h.path === EPSS).length).toBe(2)
      expect(server.hits.filter((h) => h.path === KEV).length).toBe(2)
      expect(server.hits.filter((h) => h.path === 'alpine/v3.11/main.json').length).toBe(1)
      for (const u of report.units.filter((x) => x.error)) {
        expect(readUnitState(faulted.store, u.unit).lastError?.code).toBe(u.error!.code)
        expect(readUnitState(faulted.store, u.unit).lastSuccess).toBeUndefined()
      }

      // The store holds exactly what a clean sync of the units that succeeded holds.
      server.faults.clear()
      await syncFeeds(control.store, options(server, { selectors: ['osv/Go', 'alpine/v3.10/community'] }))
      expect(allKeys(faulted.store)).toEqual(allKeys(control.store))
      expect(advisoryStatus(faulted.store).exploit).toMatchObject({ epss: 0, kev: 0 })

      // With the faults gone, the next sync completes them and clears their errors.
      const again = await syncFeeds(faulted.store, options(server))
      expect(again.units.filter((u) => u.error)).toEqual([])
      expect(again.units.filter((u) => u.status === 'updated').map((u) => u.unit).sort()).toEqual(
        ['osv/PyPI', 'debian', 'alpine/v3.10/main', 'alpine/v3.11/main', 'alpine/v3.11/community', 'epss', 'kev'].sort(),
      )
      expect(readUnitState(faulted.store, 'kev').lastError).toBeUndefined()
    } finally {
      server.faults.clear()
      await faulted.done()
      await control.done()
    }
  })

  it('waits as long as Retry-After asks before the next attempt', async () => {
    const t = tempStore()
    try {
      server.faults.set(KEV, { kind: 'status', status: 429, retryAfter: '1', times: 1 })
      const report = await syncFeeds(t.store, options(server, { selectors: ['kev'], fetch: { timeoutMs: 5000, attempts: 2, baseDelayMs: 10 } }))
      expect(report.units[0]).toMatchObject({ unit: 'kev', status: 'updated' })
      expect(report.units[0]!.seconds).toBeGreaterThanOrEqual(0.95)
    } finally {
      server.faults.clear()
      await t.done()
    }
  })

  it('a Retry-After longer than the run waits fails the unit at once', async () => {
    const t = tempStore()
    try {
      server.faults.set(KEV, { kind: 'status', status: 503, retryAfter: '86400' })
      const report = await syncFeeds(t.store, options(server, { selectors: ['kev'] }))
      expect(report.units[0]!.error?.code).toBe('ERR_FEED_UNAVAILABLE')
      expect(report.units[0]!.error?.message).toMatch(/retry after 86400 s/)
      expect(server.hits.filter((h) => h.path === KEV && h.status === 503).length).toBe(1)
    } finally {
      server.faults.clear()
      await t.done()
    }
  })

  it('a snapshot that collapsed to a fraction of its last size is refused, not applied as mass withdrawal', async () => {
    const t = tempStore()
    const path = 'alpine/v3.10/main.json'
    const { readFileSync } = await import('node:fs')
    const original = readFileSync(`${up.root}/${path}`, 'utf8')
    try {
      await syncFeeds(t.store, options(server, { selectors: ['alpine/v3.10/main'] }))
      const before = allKeys(t.store)
      const doc = JSON.parse(original) as { packages: unknown[] }
      up.write(path, JSON.stringify({ ...doc, packages: doc.packages.slice(0, 3) }))
      const report = await syncFeeds(t.store, options(server, { selectors: ['alpine/v3.10/main'] }))
      expect(report.units[0]!.error?.code).toBe('ERR_FEED_CORRUPT')
      expect(allKeys(t.store)).toEqual(before)
    } finally {
      up.write(path, original)
      await t.done()
    }
  })
})
