import { describe, expect, it } from 'vitest'
import { apkAnalyzer } from '../../src/analyzers/apk.js'
import { dpkgAnalyzer } from '../../src/analyzers/dpkg.js'
import { rpmAnalyzer } from '../../src/analyzers/rpm.js'
import { bdbBlobs } from '../../src/analyzers/rpmdb/bdb.js'
import { parseRpmHeader } from '../../src/analyzers/rpmdb/header.js'
import { ndbBlobs } from '../../src/analyzers/rpmdb/ndb.js'
import type { Analyzer } from '../../src/analyzers/types.js'
import { VigilError } from '../../src/errors.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { parseWith, prng, readBytes } from './os-helpers.js'

/**
 * Real databases, truncated and garbled: each parse either returns plain packages (a partial
 * result, never more packages than the intact file had twice over, with an ERR_PKGDB_CORRUPT
 * warning when it left a damaged part out) or throws ERR_PKGDB_CORRUPT.
 * Nothing else: no TypeError, no RangeError, no hang, no giant allocation.
 */

noteSharedMissing('corrupt package database tests')

const DBS: Array<[string, Analyzer, string, string]> = [
  ['dpkg texlive.status', dpkgAnalyzer, 'pkgdb/dpkg/claircore/texlive.status', 'var/lib/dpkg/status'],
  ['apk trivy', apkAnalyzer, 'pkgdb/trivy/pkg/fanal/analyzer/pkg/apk/testdata/apk', 'lib/apk/db/installed'],
  ['rpm sqlite (mariner)', rpmAnalyzer, 'pkgdb/rpm/go-rpmdb/cbl-mariner-2.0/rpmdb.sqlite', 'var/lib/rpm/rpmdb.sqlite'],
  ['rpm ndb (sle15)', rpmAnalyzer, 'pkgdb/rpm/go-rpmdb/sle15-bci/Packages.db', 'usr/lib/sysimage/rpm/Packages.db'],
  ['rpm bdb (libuuid)', rpmAnalyzer, 'pkgdb/rpm/go-rpmdb/libuuid/Packages', 'var/lib/rpm/Packages'],
]

type Outcome = 'ok' | 'corrupt'

async function outcome(analyzer: Analyzer, bytes: Uint8Array, path: string, limit: number): Promise<Outcome> {
  try {
    const r = await parseWith(analyzer, bytes, path)
    const pkgs = r.packages ?? []
    expect(pkgs.length).toBeLessThanOrEqual(limit)
    for (const p of pkgs) {
      expect(typeof p.name).toBe('string')
      expect(typeof p.version).toBe('string')
    }
    expect(structuredClone(r)).toEqual(r) // plain data, fit to cross the worker boundary
    // A part left out is named: that is damage noticed, as much as a throw is.
    if (r.warnings?.length) {
      expect(r.warnings.every((w) => w.code === 'ERR_PKGDB_CORRUPT')).toBe(true)
      return 'corrupt'
    }
    return 'ok'
  } catch (err) {
    if (!VigilError.is(err)) throw err
    expect(err.code).toBe('ERR_PKGDB_CORRUPT')
    return 'corrupt'
  }
}

describe.skipIf(!HAS_SHARED)('corrupt package databases', () => {
  it.each(DBS)('%s: truncated and garbled', async (_label, analyzer, file, path) => {
    const intact = readBytes(sharedPath(file))
    const count = (await parseWith(analyzer, intact, path)).packages?.length ?? 0
    expect(count).toBeGreaterThan(0)
    const limit = count * 2
    const tally: Record<Outcome, number> = { ok: 0, corrupt: 0 }
    for (const fraction of [0.001, 0.1, 0.33, 0.5, 0.9, 0.999]) {
      tally[await outcome(analyzer, intact.subarray(0, Math.floor(intact.length * fraction)), path, limit)]++
    }
    const rand = prng(0x5eed)
    for (let round = 0; round < 12; round++) {
      const bytes = intact.slice()
      // Scattered byte flips, then (every other round) a run of random bytes in the middle.
      for (let i = 0; i < 1 + round * 8; i++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256)
      if (round % 2) {
        const at = Math.floor(rand() * bytes.length * 0.9)
        for (let i = at; i < Math.min(bytes.length, at + 4096); i++) bytes[i] = Math.floor(rand() * 256)
      }
      tally[await outcome(analyzer, bytes, path, limit)]++
    }
    console.log(`${_label}: ${tally.ok} partial results, ${tally.corrupt} ERR_PKGDB_CORRUPT of 18 damaged copies`)
    // Binary garbage in a text database, or a cut rpm file, is always noticed at least once.
    expect(tally.corrupt).toBeGreaterThan(0)
  })

  it('an rpm header claiming 2^31 index entries or a 4 GiB data store is rejected before any allocation', () => {
    const h = new Uint8Array(64)
    const view = new DataView(h.buffer)
    view.setUint32(0, 0x80000000)
    view.setUint32(4, 16)
    expect(() => parseRpmHeader(h)).toThrow(expect.objectContaining({ code: 'ERR_PKGDB_CORRUPT' }))
    view.setUint32(0, 1)
    view.setUint32(4, 0xffffffff)
    expect(() => parseRpmHeader(h)).toThrow(expect.objectContaining({ code: 'ERR_PKGDB_CORRUPT' }))
  })

  it('an rpm header whose string array claims 2^31 entries is rejected', async () => {
    const r = await parseWith(rpmAnalyzer, readBytes(sharedPath('pkgdb/rpm/go-rpmdb/sle15-bci/Packages.db')), 'var/lib/rpm/Packages.db')
    expect(r.packages?.length).toBeGreaterThan(0)
    const blob = ndbBlobs(readBytes(sharedPath('pkgdb/rpm/go-rpmdb/sle15-bci/Packages.db')))[1]!.slice()
    const view = new DataView(blob.buffer)
    const il = view.getUint32(0)
    for (let i = 0; i < il; i++) {
      if (view.getUint32(8 + i * 16) === 1117 /* basenames */) view.setUint32(8 + i * 16 + 12, 0x80000000)
    }
    expect(() => parseRpmHeader(blob)).toThrow(expect.objectContaining({ code: 'ERR_PKGDB_CORRUPT' }))
  })

  it('an NDB file claiming 2^32-1 slot pages is rejected', () => {
    const bytes = readBytes(sharedPath('pkgdb/rpm/go-rpmdb/sle15-bci/Packages.db')).slice()
    new DataView(bytes.buffer).setUint32(12, 0xffffffff, true)
    expect(() => ndbBlobs(bytes)).toThrow(expect.objectContaining({ code: 'ERR_PKGDB_CORRUPT' }))
  })

  it('a Berkeley DB overflow chain that loops back on itself is rejected', () => {
    const bytes = readBytes(sharedPath('pkgdb/rpm/go-rpmdb/libuuid/Packages')).slice()
    const view = new DataView(bytes.buffer)
    const pageSize = view.getUint32(20, true)
    let looped = 0
    for (let page = 1; page * pageSize < bytes.length; page++) {
      const base = page * pageSize
      if (bytes[base + 25] === 7 /* overflow */) {
        view.setUint32(base + 16, page, true) // next page = itself
        looped++
      }
    }
    expect(looped).toBeGreaterThan(0)
    expect(() => bdbBlobs(bytes)).toThrow(expect.objectContaining({ code: 'ERR_PKGDB_CORRUPT' }))
  })

  it('binary data and non-database text', async () => {
    const noise = new Uint8Array(4096).map((_, i) => (i * 131) % 251)
    for (const [analyzer, path] of [[apkAnalyzer, 'lib/apk/db/installed'], [rpmAnalyzer, 'var/lib/rpm/Packages']] as const) {
      await expect(parseWith(analyzer, noise, path)).rejects.toMatchObject({ code: 'ERR_PKGDB_CORRUPT' })
    }
    // dpkg leaves out each stanza that holds a NUL byte, and says so.
    const dpkg = await parseWith(dpkgAnalyzer, noise, 'var/lib/dpkg/status')
    expect(dpkg.packages).toEqual([])
    expect(dpkg.warnings?.map((w) => w.code)).toEqual(['ERR_PKGDB_CORRUPT'])
    const prose = new TextEncoder().encode('this is not a database\nnor is this\n')
    await expect(parseWith(apkAnalyzer, prose, 'lib/apk/db/installed')).rejects.toMatchObject({ code: 'ERR_PKGDB_CORRUPT' })
    await expect(parseWith(dpkgAnalyzer, prose, 'var/lib/dpkg/status')).rejects.toMatchObject({ code: 'ERR_PKGDB_CORRUPT' })
    expect((await parseWith(dpkgAnalyzer, new Uint8Array(0), 'var/lib/dpkg/status')).packages).toEqual([])
  })
})
