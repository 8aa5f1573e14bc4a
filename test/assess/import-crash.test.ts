import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { imageFindings, indexImages, pendingWork } from '../../src/assess/index.js'
import { openStore } from '../../src/store/env.js'
import { fleet, mutateRecord, seeded } from '../../bench/reassess-fleet.js'
import { HAS_SHARED, noteSharedMissing, ROOT } from '../helpers/shared.js'
import { mountTmpfs, resizeTmpfs, unmountTmpfs } from '../helpers/tmpfs.js'
import type { Inventory } from '../../src/types.js'
import { importRecords, mismatches, realPools, runChildAndKill, tempStore, type TempStore } from './fixture.js'

noteSharedMissing('db import crash test')

/** `vigil db import` in a child, SIGKILLed once it has committed `killAfter` batches. */
const importAndKill = (dir: string, file: string, killAfter: number) => runChildAndKill('import-crash-child.ts', [dir, file], killAfter)

async function vigilImport(dir: string, file: string): Promise<number> {
  const sink = () => new Writable({ write: (_c, _e, done) => done() })
  return main(['db', 'import', file, '--data', dir], { stdout: sink(), stderr: sink(), stdin: Readable.from([]), env: {} } as never)
}

/**
 * kill -9 of `vigil db import` between any two of its commits, or a disk that fills part-way, then
 * the same import again: the stored findings of every image equal those of a clean import, and
 * equal a fresh re-match.
 */
describe.skipIf(!HAS_SHARED)('vigil db import survives kill -9 and a full disk', () => {
  let base: TempStore
  let work: string
  let file: string
  let inventories: Inventory[]
  let expected: Map<string, string>
  let records = 0
  const copy = (name: string, under = work) => {
    const dir = join(under, name)
    cpSync(base.dir, dir, { recursive: true })
    return dir
  }
  /** The store in `dir` after the import ran again: nothing pending, every image as a clean import left it. */
  const assertEqualsClean = async (dir: string, what: string) => {
    const store = openStore(dir, { readonly: true })
    try {
      expect(pendingWork(store)).toEqual([])
      const differing = inventories.filter((inv) => JSON.stringify(imageFindings(store, inv.image.digest)) !== expected.get(inv.image.digest)).length
      expect(differing, `${what}: images whose findings differ from a clean import`).toBe(0)
      expect(mismatches(store, inventories)).toEqual([])
    } finally {
      await store.close()
    }
  }

  beforeAll(async () => {
    const rng = seeded(7)
    const pools = realPools()
    base = tempStore()
    work = mkdtempSync(join(tmpdir(), 'vigil-import-crash-'))
    // Base: real advisories and a seeded fleet of real inventories, in a closed store to copy.
    await importRecords(base, pools.osv, 'initial', pools.feedFiles)
    inventories = [...fleet(pools, { images: 60, snapshots: 3, apps: 8, appPackages: [30, 80], drift: 0.3 }, rng)]
    indexImages(base.store, inventories.map((inventory) => ({ inventory })))
    await base.store.close()
    // The update, as one NDJSON file: every record changed, withdrawn or moved, plus new ones
    // made from them (other ids), so that the import takes several 2,000-record batches.
    const changed = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].flatMap((k) => pools.osv.map((r) => {
      const m = mutateRecord(r, pools, rng, '2031-01-01T00:00:00Z')
      return k === 0 ? m : { ...m, id: `${r.id}-copy${k}` }
    }))
    expect(changed.length).toBeGreaterThan(4_000)
    records = changed.length
    file = join(work, 'update.ndjson')
    writeFileSync(file, changed.map((r) => JSON.stringify(r)).join('\n') + '\n')

    const clean = copy('clean')
    expect(await vigilImport(clean, file)).toBe(0)
    const cleanStore = openStore(clean, { readonly: true })
    expected = new Map(inventories.map((inv) => [inv.image.digest, JSON.stringify(imageFindings(cleanStore, inv.image.digest))]))
    expect(mismatches(cleanStore, inventories)).toEqual([])
    await cleanStore.close()
  }, 120_000)

  afterAll(async () => {
    await base?.done().catch(() => undefined)
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('a killed import, run again, leaves the index equal to a clean import', async () => {
    const batches = Math.ceil(records / 2000)
    // After the first batch, a middle one, and the last (the re-assessment has just begun).
    for (const killAfter of [...new Set([1, Math.ceil(batches / 2), batches])]) {
      const dir = copy(`killed-${killAfter}`)
      const run = await importAndKill(dir, file, killAfter)
      expect(run.finished).toBe(false)
      expect(await vigilImport(dir, file)).toBe(0)
      await assertEqualsClean(dir, `killed after batch ${killAfter}`)
    }
  }, 240_000)

  it('an import that fills the disk fails with ERR_STORE; with space back, running it again equals a clean import', async () => {
    const baseBytes = dirBytes(base.dir)
    const grown = dirBytes(join(work, 'clean')) - baseBytes
    // Room for the base store and a third of what the import adds: it runs out part-way.
    const sizeMb = Math.ceil((baseBytes + grown / 3) / 1024 ** 2)
    const mount = mountTmpfs(sizeMb, 'db import disk-full test')
    if (!mount) return
    try {
      const dir = copy('store', mount)
      const full = spawnSync(process.execPath, [join(ROOT, 'bin', 'vigil.js'), 'db', 'import', file, '--data', dir], { encoding: 'utf8' })
      expect(full.stderr).toContain('ERR_STORE')
      expect(full.status).toBe(3)
      resizeTmpfs(mount, sizeMb * 4)
      expect(await vigilImport(dir, file)).toBe(0)
      await assertEqualsClean(dir, 'after a full disk')
    } finally {
      unmountTmpfs(mount)
    }
  }, 120_000)
})

function dirBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0)
}
