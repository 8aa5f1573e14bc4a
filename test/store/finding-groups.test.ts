import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openStore, type Store } from '../../src/store/env.js'
import { FindingsReader, FindingsWriter, materialize, sameFinding, sharedPart } from '../../src/store/finding-groups.js'
import { packageKey, type Finding } from '../../src/match/types.js'
import type { Package } from '../../src/types.js'
import { seeded } from '../../bench/reassess-fleet.js'

/** A finding as toFinding writes it for `pkg` (field order included). */
function findingFor(pkg: Package, id: string, fixed: string, risk: number): Finding {
  return {
    id, aliases: ['CVE-2024-0001'], pkgKey: packageKey(pkg), ecosystem: pkg.ecosystem, name: pkg.name, installed: pkg.version,
    fixedVersions: [fixed], state: 'fixed', severity: 'HIGH', severitySource: 'cvss', cvss: [{ version: '3.1', vector: 'CVSS:3.1/AV:N', score: 7.5 }],
    risk, purl: pkg.purl, path: pkg.path, title: 'request smuggling', modified: '2024-02-01T00:00:00Z',
  }
}

const pkg = (version: string, path = 'usr/lib/python3/dist-packages'): Package => ({
  ecosystem: 'PyPI', name: 'requests', version, purl: `pkg:pypi/requests@${version}`, path, kind: 'lang',
})

function withStore(run: (store: Store) => void | Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-groups-'))
    const store = openStore(dir, { mapSize: 256 * 1024 ** 2 })
    try {
      await run(store)
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

function write(store: Store, edit: (w: FindingsWriter) => void): void {
  store.root.transactionSync(() => {
    const w = new FindingsWriter(store)
    edit(w)
    w.flush()
  })
}

describe('findings grouped by advisory (store/finding-groups.ts)', () => {
  it('variants with the same advisory part share a group; a different one gets its own', withStore((store) => {
    const a = findingFor(pkg('2.30.0'), 'GHSA-1', '2.31.0', 60)
    const b = findingFor(pkg('2.29.0'), 'GHSA-1', '2.31.0', 60)
    const other = findingFor(pkg('2.28.0'), 'GHSA-1', '2.32.0', 60)
    write(store, (w) => {
      w.replace(7, [], [a])
      w.replace(3, [], [b])
      w.replace(9, [], [other])
    })
    expect(store.findings.getCount()).toBe(2)
    const r = new FindingsReader(store)
    expect(r.variantsWith('GHSA-1')).toEqual([3, 7, 9])
    expect(r.sharedOf(7, 'GHSA-1')).toEqual(sharedPart(a))
    expect(r.sharedOf(3, 'GHSA-1')).toBe(r.sharedOf(7, 'GHSA-1'))
    expect(r.sharedOf(9, 'GHSA-1')!.fixedVersions).toEqual(['2.32.0'])
    expect(r.sharedOf(4, 'GHSA-1')).toBeUndefined()
    expect(r.sharedOf(7, 'GHSA-2')).toBeUndefined()
  }))

  it('a changed finding moves its variant; a group nobody holds is deleted', withStore((store) => {
    const v1 = findingFor(pkg('2.30.0'), 'GHSA-1', '2.31.0', 60)
    const v2 = findingFor(pkg('2.29.0'), 'GHSA-1', '2.31.0', 60)
    write(store, (w) => {
      w.replace(1, [], [v1])
      w.replace(2, [], [v2])
    })
    // The advisory's fixed version moves for variant 2 only (its record changed for that range).
    const v2After = { ...v2, fixedVersions: ['2.30.1'], risk: 55 }
    write(store, (w) => w.replace(2, [v2], [v2After]))
    let r = new FindingsReader(store)
    expect(r.sharedOf(1, 'GHSA-1')!.fixedVersions).toEqual(['2.31.0'])
    expect(r.sharedOf(2, 'GHSA-1')!.fixedVersions).toEqual(['2.30.1'])
    expect(store.findings.getCount()).toBe(2)
    // An unchanged finding is not rewritten: the writer touches nothing.
    write(store, (w) => w.replace(1, [v1], [{ ...v1 }]))
    expect(store.findings.getCount()).toBe(2)
    write(store, (w) => {
      w.replace(1, [v1], [])
      w.replace(2, [v2After], [])
    })
    r = new FindingsReader(store)
    expect(r.variantsWith('GHSA-1')).toEqual([])
    expect(store.findings.getCount()).toBe(0)
  }))

  it('agrees with a model through random joins, moves and leaves', withStore((store) => {
    const rng = seeded(41)
    const fixes = ['2.31.0', '2.32.0', '2.33.0']
    const ids = ['GHSA-1', 'GHSA-2', 'PYSEC-3']
    // model: variant → id → fixed version
    const model = new Map<number, Map<string, string>>()
    const stored = (variant: number, id: string, fixed: string) => findingFor(pkg(`1.${variant}.0`), id, fixed, 50)
    for (let round = 0; round < 60; round++) {
      write(store, (w) => {
        for (let k = 0; k < 20; k++) {
          const variant = 1 + Math.floor(rng() * 40)
          const id = ids[Math.floor(rng() * ids.length)]!
          const have = model.get(variant) ?? new Map<string, string>()
          const prior = have.get(id)
          const before = prior === undefined ? [] : [stored(variant, id, prior)]
          if (rng() < 0.3) {
            w.replace(variant, before, [])
            have.delete(id)
          } else {
            const fixed = fixes[Math.floor(rng() * fixes.length)]!
            w.replace(variant, before, [stored(variant, id, fixed)])
            have.set(id, fixed)
          }
          model.set(variant, have)
        }
      })
      const r = new FindingsReader(store)
      for (const id of ids) {
        const expected = [...model].filter(([, m]) => m.has(id)).map(([v]) => v).sort((a, b) => a - b)
        expect(r.variantsWith(id)).toEqual(expected)
        for (const v of expected) expect(r.sharedOf(v, id)!.fixedVersions).toEqual([model.get(v)!.get(id)!])
        // One group per distinct advisory part at most.
        expect(r.groupsOf(id).length).toBeLessThanOrEqual(fixes.length)
      }
    }
  }))

  it('decoded groups are kept per findings generation: writes through another handle are seen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-groups-'))
    const a = openStore(dir, { mapSize: 256 * 1024 ** 2 })
    const b = openStore(dir, { mapSize: 256 * 1024 ** 2 })
    try {
      const f = findingFor(pkg('2.30.0'), 'GHSA-1', '2.31.0', 60)
      write(a, (w) => w.replace(1, [], [f]))
      expect(new FindingsReader(a).variantsWith('GHSA-1')).toEqual([1])
      // Another handle (another process) moves the finding's fix and adds a variant.
      const moved = { ...f, fixedVersions: ['2.30.1'] }
      write(b, (w) => {
        w.replace(1, [f], [moved])
        w.replace(2, [], [moved])
      })
      // lmdb renews a handle's read snapshot on a timer turn, as another process reading would.
      await new Promise((resolve) => setTimeout(resolve, 5))
      const r = new FindingsReader(a)
      expect(r.variantsWith('GHSA-1')).toEqual([1, 2])
      expect(r.sharedOf(1, 'GHSA-1')!.fixedVersions).toEqual(['2.30.1'])
    } finally {
      await b.close()
      await a.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('materialize shows the advisory part for any package byte for byte as matching would', () => {
    const rep = pkg('2.30.0')
    const f = findingFor(rep, 'GHSA-1', '2.31.0', 60)
    const other = pkg('2.30.0', 'app/venv/lib/python3.11/site-packages')
    expect(JSON.stringify(materialize(sharedPart(f), rep))).toBe(JSON.stringify(f))
    expect(JSON.stringify(materialize(sharedPart(f), other))).toBe(JSON.stringify(findingFor(other, 'GHSA-1', '2.31.0', 60)))
    expect(materialize(f, other, 'sha256:abc').layer).toBe('sha256:abc')
  })
})

describe('sameFinding', () => {
  it('compares every field, and a remembered verdict holds for its own pair of arrays only', () => {
    const p = pkg('2.31.0')
    const a = findingFor(p, 'PYSEC-2023-74', '2.31.0', 5)
    // The same values in other arrays (a stored group's decoded copy of the advisory's).
    const copy = { ...a, aliases: [...a.aliases], fixedVersions: [...a.fixedVersions], cvss: a.cvss.map((c) => ({ ...c })) }
    const rescored = { ...a, cvss: [{ version: '3.1' as const, vector: 'CVSS:3.1/AV:N', score: 9.1 }] }
    const elsewhere = materialize(sharedPart(a), pkg('2.31.0', 'app/.venv/lib'))
    expect(sameFinding(a, copy)).toBe(true)
    expect(sameFinding(a, rescored)).toBe(false)
    // Asked again after a different pair: each pair gets its own verdict.
    expect(sameFinding(a, copy)).toBe(true)
    expect(sameFinding(a, rescored)).toBe(false)
    expect(sameFinding(copy, rescored)).toBe(false)
    expect(sameFinding(a, elsewhere)).toBe(false)
    expect(sameFinding(a, { ...copy, title: 'request smuggling via proxy' })).toBe(false)
    expect(sameFinding(a, { ...copy, description: undefined })).toBe(true)
  })
})

describe('sameFinding sees every field', () => {
  it('a change to any one field of a full finding makes it a different finding', () => {
    const p = pkg('2.31.0')
    // Required<Finding>: a field added to Finding fails to compile here until it is listed.
    const full: Required<Finding> = {
      ...findingFor(p, 'PYSEC-2023-74', '2.31.0', 5),
      title: 'Unintended leak of Proxy-Authorization header', epss: 0.02, kev: true, description: 'Unintended leak of Proxy-Authorization header', references: ['https://github.com/psf/requests/pull/6655'],
      layer: 'sha256:8f1e', path: 'usr/lib/python3/dist-packages', modified: '2024-02-01T00:00:00Z',
    }
    const changed = (v: unknown): unknown =>
      typeof v === 'string' ? `${v}x` : typeof v === 'number' ? v + 1 : typeof v === 'boolean' ? !v : Array.isArray(v) ? [...v, v[0]] : undefined
    expect(sameFinding(full, { ...full })).toBe(true)
    for (const key of Object.keys(full) as (keyof Finding)[]) {
      expect(sameFinding(full, { ...full, [key]: changed(full[key]) }), key).toBe(false)
      // Equal values in other arrays are the same finding.
      if (Array.isArray(full[key])) expect(sameFinding(full, { ...full, [key]: structuredClone(full[key]) }), key).toBe(true)
    }
  })
})
