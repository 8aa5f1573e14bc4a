import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { indexImages } from '../../src/assess/index.js'
import { imagesAffectedBy, imagesWithPackage, topRisks } from '../../src/assess/query.js'
import { matchInventory } from '../../src/match/matcher.js'
import { main } from '../../src/cli/main.js'
import type { Inventory } from '../../src/types.js'
import { fleet, seeded } from '../../bench/reassess-fleet.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { importRecords, realPools, tempStore, type TempStore } from './fixture.js'

noteSharedMissing('assess query test')

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (d: Buffer) => (out += d.toString()))
  stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await main(args, { stdout, stderr, stdin: new PassThrough(), env: {} })
  return { code, out, err }
}

describe.skipIf(!HAS_SHARED)('fleet queries', () => {
  let t: TempStore
  let inventories: Inventory[]
  beforeAll(async () => {
    const pools = realPools()
    t = tempStore()
    await importRecords(t, pools.osv, 'feed', pools.feedFiles)
    inventories = [...fleet(pools, { images: 25, snapshots: 3, apps: 5, appPackages: [30, 60], drift: 0.4 }, seeded(11))]
    indexImages(t.store, inventories.map((inventory) => ({ inventory })))
  }, 60_000)
  afterAll(async () => t?.done())

  it('query package: images holding a package, within a version range', () => {
    const sample = inventories[0]!.packages.find((p) => p.ecosystem === 'PyPI')!
    const purl = `pkg:pypi/${sample.name}`
    const expected = inventories.filter((inv) => inv.packages.some((p) => p.ecosystem === 'PyPI' && p.name === sample.name)).map((i) => i.image.digest)
    const hits = imagesWithPackage(t.store, purl)
    expect([...new Set(hits.map((h) => h.digest))].sort()).toEqual([...new Set(expected)].sort())
    const exact = imagesWithPackage(t.store, `${purl}@${sample.version}`)
    expect(exact.length).toBeGreaterThan(0)
    expect(exact.every((h) => h.version === sample.version)).toBe(true)
    const below = imagesWithPackage(t.store, `${purl}@<${sample.version}`)
    expect(below.every((h) => h.version !== sample.version)).toBe(true)
    expect(below.length + exact.length).toBeLessThanOrEqual(hits.length)
  })

  it('query package: Debian packages by binary or source name across releases', () => {
    const deb = inventories.flatMap((i) => i.packages).find((p) => p.purl.startsWith('pkg:deb/') && p.source)!
    const bySource = imagesWithPackage(t.store, `pkg:deb/${deb.purl.split('/')[1]}/${deb.source!.name}`)
    expect(bySource.some((h) => h.name === deb.name)).toBe(true)
  })

  it('query vuln: by id and by alias, equal to a brute-force scan of every inventory', () => {
    const all = inventories.map((inv) => ({ digest: inv.image.digest, findings: matchInventory(t.store, inv) }))
    const withAlias = all.flatMap((a) => a.findings).find((f) => f.aliases.some((x) => x.startsWith('CVE-')))!
    const alias = withAlias.aliases.find((x) => x.startsWith('CVE-'))!
    const expected = all.filter((a) => a.findings.some((f) => f.id === alias || f.aliases.includes(alias))).map((a) => a.digest).sort()
    expect([...new Set(imagesAffectedBy(t.store, alias).map((h) => h.digest))].sort()).toEqual(expected)
    expect([...new Set(imagesAffectedBy(t.store, withAlias.id).map((h) => h.digest))].sort()).toEqual(
      all.filter((a) => a.findings.some((f) => f.id === withAlias.id || f.aliases.includes(withAlias.id))).map((a) => a.digest).sort(),
    )
    expect(imagesAffectedBy(t.store, 'CVE-1999-0000000')).toEqual([])
  })

  it('query top: ranked by risk, image counts equal a brute-force count', () => {
    const top = topRisks(t.store, 5)
    expect(top.length).toBe(5)
    for (let i = 1; i < top.length; i++) expect(top[i - 1]!.risk).toBeGreaterThanOrEqual(top[i]!.risk)
    for (const row of top) {
      const count = inventories.filter((inv) => matchInventory(t.store, inv).some((f) => f.id === row.id)).length
      expect(row.images).toBe(count)
    }
  })

  it('vigil query: json and table output, usage errors exit 2', async () => {
    const expectedTop = topRisks(t.store, 3)
    const expectedRows = imagesAffectedBy(t.store, expectedTop[0]!.id).length
    await t.store.close()
    try {
      const top = await cli(['query', 'top', '--limit', '3', '--format', 'json', '--data', t.dir])
      expect(top.code).toBe(0)
      const rows = JSON.parse(top.out) as { id: string; images: number }[]
      expect(rows).toEqual(JSON.parse(JSON.stringify(expectedTop)))
      const vuln = await cli(['query', 'vuln', rows[0]!.id, '--data', t.dir])
      expect(vuln.code).toBe(0)
      expect(vuln.out.split('\n')[0]).toMatch(/^DIGEST\s+REFERENCE\s+ID/)
      // One row per (image, package) carrying it.
      expect(vuln.out.trim().split('\n')).toHaveLength(1 + expectedRows)
      expect((await cli(['query', 'package', 'not-a-purl', '--data', t.dir])).code).toBe(2)
      expect((await cli(['query', 'frobnicate', '--data', t.dir])).code).toBe(2)
      expect((await cli(['query', 'top', '--limit', '0', '--data', t.dir])).code).toBe(2)
    } finally {
      const { openStore } = await import('../../src/store/env.js')
      t.store = openStore(t.dir, { mapSize: 2 * 1024 ** 3 })
    }
  }, 30_000)
})
