import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { imageFindings, indexImages } from '../../src/assess/index.js'
import type { FindingsChanged } from '../../src/assess/delta.js'
import { advisoryStatus, keyString } from '../../src/store/advisories.js'
import { readUnitState, syncFeeds, type SyncOptions } from '../../src/feeds/sync.js'
import type { Store } from '../../src/store/env.js'
import { asDigest, type Inventory, type Package } from '../../src/types.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { buildUpstream, startFeedServer, type FeedServer, type OsvRecordJson, type Upstream } from './feed-server.js'
import { tempStore } from './helpers.js'

noteSharedMissing('feed sync against a loopback source')

const UNITS = ['osv/Go', 'debian', 'alpine/v3.10/main', 'alpine/v3.10/community', 'alpine/v3.11/main', 'alpine/v3.11/community', 'epss', 'kev']

function options(server: FeedServer, extra: Partial<SyncOptions> = {}): SyncOptions {
  return { mirror: server.base, osvEcosystems: ['Go'], alpineBranches: ['v3.10', 'v3.11'], fetch: { timeoutMs: 5000, attempts: 2, baseDelayMs: 10 }, ...extra }
}

/** Go records with one package and an `introduced 0, fixed X` range: v0.0.1 of that package is affected. */
function simpleGoRecords(up: Upstream, n: number): OsvRecordJson[] {
  const out: OsvRecordJson[] = []
  const names = new Set<string>()
  const uses = new Map<string, number>()
  for (const r of up.osv.get('Go')!.values()) {
    for (const a of (r.affected as { package: { name: string } }[] | undefined) ?? []) uses.set(a.package.name, (uses.get(a.package.name) ?? 0) + 1)
  }
  for (const r of up.osv.get('Go')!.values()) {
    const affected = r.affected as { package: { name: string }; ranges?: { type: string; events: Record<string, string>[] }[] }[] | undefined
    if (!affected || affected.length !== 1 || r.withdrawn) continue
    const ranges = affected[0]!.ranges ?? []
    const name = affected[0]!.package.name
    if (ranges.length !== 1 || names.has(name) || uses.get(name) !== 1) continue
    const ev = ranges[0]!.events
    if (ev.length !== 2 || ev[0]!.introduced !== '0' || !ev[1]!.fixed || !/^[1-9]/.test(ev[1]!.fixed)) continue
    names.add(name)
    out.push(r)
    if (out.length === n) break
  }
  return out
}

const goPackage = (r: OsvRecordJson): Package => {
  const name = (r.affected as { package: { name: string } }[])[0]!.package.name
  return { ecosystem: 'Go', name, version: 'v0.0.1', purl: `pkg:golang/${name}@v0.0.1`, path: 'usr/local/bin/app', kind: 'lang' }
}

function inventory(packages: Package[]): Inventory {
  return { v: 1, image: { reference: 'feed-sync/test:1', digest: asDigest(`sha256:${'5e'.repeat(32)}`), platform: 'linux/amd64', layers: [] }, packages, analyzerSet: 'test', createdAt: '2026-12-08T00:00:00Z' }
}

function keysWith(store: Store, prefix: string): string[] {
  const out: string[] = []
  for (const k of store.advisoryRecords.getKeys({ start: prefix, end: `${prefix}\uffff` })) out.push(keyString(k))
  return out
}

describe.skipIf(!HAS_SHARED)('feed sync from a loopback source in the upstream layout', { timeout: 300_000 }, () => {
  let up: Upstream
  let server: FeedServer
  let held: OsvRecordJson[]
  beforeAll(async () => {
    up = buildUpstream()
    held = simpleGoRecords(up, 3)
    // The "new" record is not published until later.
    up.osv.get('Go')!.delete(held[1]!.id)
    up.publishOsv('Go')
    server = await startFeedServer(up.root)
  })
  afterAll(async () => {
    await server?.close()
    up?.done()
  })

  it('imports every source on the first sync, then an unchanged sync asks only conditionally (or for the listing) and changes nothing', async () => {
    const t = tempStore()
    try {
      const first = await syncFeeds(t.store, options(server))
      expect(first.units.map((u) => u.unit)).toEqual(UNITS)
      for (const u of first.units) {
        expect(u.error, u.unit).toBeUndefined()
        expect(u.status, u.unit).toBe('updated')
        expect(u.mode, u.unit).toBe('full')
        expect(u.bytes, u.unit).toBeGreaterThan(0)
      }
      const go = first.units.find((u) => u.unit === 'osv/Go')!
      // Withdrawn records in the feed are not stored (there is nothing to withdraw yet).
      const live = [...up.osv.get('Go')!.values()].filter((r) => !r.withdrawn).length
      expect(go.added).toBe(live)
      expect(go.added + go.unchanged).toBe(up.osv.get('Go')!.size)
      expect(keysWith(t.store, 'Debian:').length).toBeGreaterThan(0)
      expect(keysWith(t.store, 'Alpine:v3.10/').length).toBeGreaterThan(0)
      expect(keysWith(t.store, 'Alpine:v3.11/').length).toBeGreaterThan(0)
      const status = advisoryStatus(t.store)
      expect(status.exploit.epss).toBe(40)
      expect(status.exploit.kev).toBe(5)
      const records = t.store.advisoryRecords.getCount()

      // Second sync: OSV reads its listing once (no validators for it yet), everything else is conditional.
      const mark = server.hits.length
      const second = await syncFeeds(t.store, options(server))
      const asked = server.hits.slice(mark)
      expect(asked.map((h) => h.path).sort()).toEqual(
        ['osv/Go/modified_id.csv', 'debian/tracker/data/json', 'alpine/v3.10/main.json', 'alpine/v3.10/community.json', 'alpine/v3.11/main.json', 'alpine/v3.11/community.json', 'epss/epss_scores-current.csv.gz', 'kev/sites/default/files/feeds/known_exploited_vulnerabilities.json'].sort(),
      )
      for (const h of asked) expect(h.conditional || h.path.endsWith('modified_id.csv'), h.path).toBe(true)
      expect(asked.filter((h) => h.status === 304).length).toBe(7)
      for (const u of second.units) {
        expect(u.status, u.unit).toBe('unchanged')
        expect(u.added + u.changed + u.withdrawn, u.unit).toBe(0)
      }
      expect(t.store.advisoryRecords.getCount()).toBe(records)

      // Third sync: every request is conditional and answered 304.
      const mark3 = server.hits.length
      await syncFeeds(t.store, options(server))
      const third = server.hits.slice(mark3)
      expect(third.length).toBe(8)
      expect(third.every((h) => h.conditional && h.status === 304)).toBe(true)
    } finally {
      await t.done()
    }
  })

  it('a changed, a new and a removed OSV record each reach an already-indexed image, through the listing', async () => {
    const t = tempStore()
    const [changedRec, newRec, removedRec] = held as [OsvRecordJson, OsvRecordJson, OsvRecordJson]
    const go = up.osv.get('Go')!
    try {
      await syncFeeds(t.store, options(server, { selectors: ['osv'] }))
      const inv = inventory([goPackage(changedRec), goPackage(newRec), goPackage(removedRec)])
      indexImages(t.store, [{ inventory: inv }])
      const before = (imageFindings(t.store, inv.image.digest) ?? []).map((f) => f.id).sort()
      expect(before).toEqual([changedRec.id, removedRec.id].sort())

      const changed = structuredClone(changedRec) as OsvRecordJson & { affected: { ranges: { events: Record<string, string>[] }[] }[] }
      changed.modified = '2031-01-01T00:00:00Z'
      changed.affected[0]!.ranges[0]!.events[1] = { fixed: '99.0.0' }
      go.set(changed.id, changed)
      // The new record keeps its own (old) modified time: it is new because the listing names an id never seen.
      go.set(newRec.id, newRec)
      go.delete(removedRec.id)
      up.publishOsv('Go')

      const events: FindingsChanged[] = []
      const mark = server.hits.length
      const report = await syncFeeds(t.store, options(server, { selectors: ['osv'], onChange: (e) => events.push(e) }))
      const row = report.units[0]!
      expect(row).toMatchObject({ unit: 'osv/Go', status: 'updated', mode: 'incremental', added: 1, changed: 1, withdrawn: 1 })
      // The listing plus one request per changed record: not the zip.
      expect(server.hits.slice(mark).map((h) => h.path).sort()).toEqual(['osv/Go/modified_id.csv', `osv/Go/${changed.id}.json`, `osv/Go/${newRec.id}.json`].sort())

      const mine = events.filter((e) => e.digest === inv.image.digest)
      expect(mine.flatMap((e) => e.added.map((f) => f.id))).toEqual([newRec.id])
      expect(mine.flatMap((e) => e.removed.map((f) => f.id))).toEqual([removedRec.id])
      expect(mine.flatMap((e) => e.changed.map((c) => c.after.id))).toEqual([changed.id])
      const after = imageFindings(t.store, inv.image.digest) ?? []
      expect(after.map((f) => f.id).sort()).toEqual([changed.id, newRec.id].sort())
      expect(after.find((f) => f.id === changed.id)!.fixedVersions).toEqual(['99.0.0'])
      expect(readUnitState(t.store, 'osv/Go').cursor).toBe(Date.parse('2031-01-01T00:00:00Z'))
    } finally {
      go.set(changedRec.id, changedRec)
      go.delete(newRec.id)
      go.set(removedRec.id, removedRec)
      up.publishOsv('Go')
      await t.done()
    }
  })

  it('a record a snapshot source stops listing is withdrawn (Debian tracker)', async () => {
    const t = tempStore()
    const original = JSON.parse(JSON.stringify(await import('node:fs').then((fs) => JSON.parse(fs.readFileSync(`${up.root}/debian/tracker/data/json`, 'utf8'))))) as Record<string, Record<string, unknown>>
    try {
      await syncFeeds(t.store, options(server, { selectors: ['debian'] }))
      const pkg = Object.keys(original)[0]!
      const cve = Object.keys(original[pkg]!)[0]!
      const keys = keysWith(t.store, 'Debian:').filter((k) => k.endsWith(`/${pkg}/${cve}`))
      expect(keys.length).toBeGreaterThan(0)
      const trimmed = structuredClone(original)
      delete trimmed[pkg]![cve]
      up.write('debian/tracker/data/json', JSON.stringify(trimmed))
      const report = await syncFeeds(t.store, options(server, { selectors: ['debian'] }))
      expect(report.units[0]).toMatchObject({ unit: 'debian', status: 'updated', withdrawn: keys.length, added: 0 })
      for (const k of keys) expect(t.store.advisoryRecords.get(k)).toBeUndefined()
    } finally {
      up.write('debian/tracker/data/json', JSON.stringify(original))
      await t.done()
    }
  })
})
