import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore, type Store } from '../../src/store/env.js'
import { importFeeds } from '../../src/match/index.js'
import { matchInventory } from '../../src/match/matcher.js'
import { ensureSchema, imageFindings } from '../../src/assess/index.js'
import type { Finding } from '../../src/match/types.js'
import type { Inventory } from '../../src/types.js'
import { fleet, loadPools, seeded, type FleetShape, type OsvRecord, type Pools } from '../../bench/reassess-fleet.js'
import { indexImages } from '../../src/assess/index.js'
import { SHARED_DATA } from '../helpers/shared.js'

/**
 * Runs a child script of this folder (TypeScript, through ts-register.mjs) that prints `batch…`
 * after each commit and `finished…` at its end, and SIGKILLs it once `killAfter` batches are in.
 */
export function runChildAndKill(script: string, args: readonly string[], killAfter: number): Promise<{ batches: number; finished: boolean }> {
  const here = import.meta.dirname
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', join(here, 'ts-register.mjs'), join(here, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let batches = 0
    let finished = false
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.stdout.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (line.startsWith('batch')) batches++
        if (line.startsWith('finished')) finished = true
      }
      if (batches >= killAfter && child.pid !== undefined && !finished) process.kill(child.pid, 'SIGKILL')
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`child exited ${code}: ${err}`))
      else resolve({ batches, finished })
    })
  })
}

let pools: Pools | undefined
/** Loaded once per test file: reading ~7k real OSV files takes a moment. */
export function realPools(): Pools {
  return (pools ??= loadPools(SHARED_DATA))
}

export interface TempStore {
  dir: string
  store: Store
  done(): Promise<void>
}

export function tempStore(): TempStore {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-assess-'))
  const store = openStore(dir, { mapSize: 2 * 1024 ** 3 })
  ensureSchema(store)
  const t: TempStore = {
    dir,
    store,
    done: async () => {
      await t.store.close().catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return t
}

/** Imports OSV records (as one NDJSON file) plus real feed files; returns the import report. */
export async function importRecords(t: TempStore, records: readonly OsvRecord[], name: string, extra: readonly string[] = []) {
  const file = join(t.dir, `${name}.ndjson`)
  writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n')
  return importFeeds(t.store, [file, ...extra])
}

/** Order-insensitive view of findings, for set comparisons of event-applied state. */
export function findingSet(fs: readonly Finding[]): string[] {
  return fs.map((f) => `${f.pkgKey}|${f.id}|${f.severity}|${f.state}|${f.risk}|${f.fixedVersions.join(',')}`).sort()
}

/** The assertion the whole index stands on: stored findings equal a from-scratch re-match. */
export function mismatches(store: Store, inventories: readonly Inventory[]): string[] {
  const bad: string[] = []
  for (const inv of inventories) {
    const stored = imageFindings(store, inv.image.digest)
    const fresh = matchInventory(store, inv)
    if (JSON.stringify(stored) !== JSON.stringify(fresh)) bad.push(inv.image.digest)
  }
  return bad
}

/** A temp store with the real advisories imported and a seeded fleet of real inventories indexed. */
export async function indexedFleet(shape: FleetShape, seed: number): Promise<{ pools: Pools; t: TempStore; inventories: Inventory[] }> {
  const pools = realPools()
  const t = tempStore()
  await importRecords(t, pools.osv, 'feed', pools.feedFiles)
  const inventories = [...fleet(pools, shape, seeded(seed))]
  indexImages(t.store, inventories.map((inventory) => ({ inventory })))
  return { pools, t, inventories }
}

export type GoRecord = OsvRecord & { affected: { ranges?: { events: Record<string, string>[] }[] }[] }

/**
 * A real Go record, as the feed has it: GO-2026-4985, the OpenTelemetry OTLP HTTP exporters
 * (go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp and …/otlpmetrichttp), fixed
 * in 1.43.0.
 */
export function readGo4985(): GoRecord {
  return JSON.parse(readFileSync(join(SHARED_DATA, 'advisories', 'osv', 'go', 'GO-2026-4985.json'), 'utf8')) as GoRecord
}

/** The record changed to say 1.42.0 fixed it (newer `modified`): v1.42.0 is no longer affected. */
export function fixedAt1420(record: GoRecord): GoRecord {
  return {
    ...record,
    modified: '2031-01-01T00:00:00Z',
    affected: record.affected.map((a) => ({ ...a, ranges: (a.ranges ?? []).map((r) => ({ ...r, events: r.events.map((e) => (e.fixed === '1.43.0' ? { fixed: '1.42.0' } : e)) })) })),
  }
}
