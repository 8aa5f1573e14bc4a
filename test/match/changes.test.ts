import { isDeepStrictEqual } from 'node:util'
import { describe, expect, it } from 'vitest'
import { matchChanged } from '../../src/match/changes.js'
import { storeKey } from '../../src/match/keys.js'
import { affects, matchPackage } from '../../src/match/matcher.js'
import type { Finding } from '../../src/match/types.js'
import { readCompiled } from '../../src/store/advisories.js'
import type { Store } from '../../src/store/env.js'
import type { Package } from '../../src/types.js'
import { pick, seeded, type OsvRecord, type Rng } from '../../bench/reassess-fleet.js'
import { importRecords, tempStore } from '../assess/fixture.js'

/**
 * matchChanged's promise (src/match/changes.ts), checked against matchPackage on random synthetic
 * OSV deltas that lean hard on the alias de-duplication: for every installed version,
 *   sortById(old − {findings whose id ∈ ids} + findings) deep-equals the new matchPackage result,
 * with causes = the ids of every record in the delta (one Set per delta, shared by every version) and
 * oldPicks = the package's findings before the delta whose id is in causes.
 */

const PKG = 'demo-pkg'
/** PEP 503 spellings of the same project (one store key). */
const SPELLINGS = ['demo-pkg', 'demo_pkg', 'Demo.Pkg', 'DEMO-PKG']
const OTHER = 'other-pkg'
/** PEP 440 order: 1.2 < 1.5 < 1.10 < 2.0rc1 < 2.0 < 2.0.1. */
const VERSIONS = ['1.0', '1.1', '1.2', '1.5', '1.10', '2.0rc1', '2.0', '2.0.1', '2.1', '2.5', '3.0']
const INSTALLED = ['0.9', ...VERSIONS, '3.1']
const SEVERITY = ['LOW', 'MODERATE', 'HIGH', 'CRITICAL']

const PYSEC = Array.from({ length: 6 }, (_, i) => `PYSEC-2020-${i + 1}`)
const GHSA = Array.from({ length: 6 }, (_, i) => `GHSA-xxxx-${i + 1}`)
/** Mostly alias-only; now and then a record carries a CVE id itself (then a shared CVE alias is an R edge). */
const CVE = Array.from({ length: 4 }, (_, i) => `CVE-2021-${1000 + i}`)
const RECORD_IDS = [...PYSEC, ...GHSA]
const ALL_IDS = [...RECORD_IDS, ...CVE]

const ROUNDS = 200
const DELTAS = 3

type Affected = NonNullable<OsvRecord['affected']>[number]

const byId = (a: Finding, b: Finding) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
const chance = (rng: Rng, p: number) => rng() < p
const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1))

function shuffled<T>(rng: Rng, xs: readonly T[]): T[] {
  const out = xs.slice()
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

function lang(version: string, name: string): Package {
  return { ecosystem: 'PyPI', name, version, purl: `pkg:pypi/${PKG}@${version}`, path: 'app/x', kind: 'lang' }
}

/** ECOSYSTEM events: 1–2 introduced/fixed intervals, the last one sometimes open. */
function randomEvents(rng: Rng): Record<string, string>[] {
  const events: Record<string, string>[] = []
  let at = chance(rng, 0.45) ? -1 : int(rng, 0, VERSIONS.length - 2)
  const intervals = chance(rng, 0.25) ? 2 : 1
  for (let k = 0; k < intervals && at < VERSIONS.length - 1; k++) {
    events.push({ introduced: at < 0 ? '0' : VERSIONS[at]! })
    if (k === intervals - 1 && chance(rng, 0.3)) break
    const fixed = int(rng, at + 1, VERSIONS.length - 1)
    events.push({ fixed: VERSIONS[fixed]! })
    at = fixed + int(rng, 0, 2)
  }
  if (events.length === 0) events.push({ introduced: '0' })
  return events
}

function randomEntry(rng: Rng, name: string): Affected {
  const entry: Affected = { package: { ecosystem: 'PyPI', name }, ranges: [{ type: 'ECOSYSTEM', events: randomEvents(rng) }] }
  if (chance(rng, 0.15)) {
    entry.versions = VERSIONS.filter(() => chance(rng, 0.3))
    if (chance(rng, 0.5)) entry.ranges = []
  }
  return entry
}

function randomAffected(rng: Rng): Affected[] {
  const r = rng()
  if (r < 0.08) return [randomEntry(rng, OTHER)]
  if (r < 0.18) return [randomEntry(rng, pick(rng, SPELLINGS)), randomEntry(rng, OTHER)]
  // Two entries for the same package: two compiled advisories with one id in the same list.
  if (r < 0.26) return [randomEntry(rng, pick(rng, SPELLINGS)), randomEntry(rng, pick(rng, SPELLINGS))]
  return [randomEntry(rng, pick(rng, SPELLINGS))]
}

/**
 * Alias edges among `ids` (the records about to exist, and some that do not): chains A→B→C,
 * symmetric pairs, shared CVE-only aliases, dangling ids, duplicates and self-references.
 */
function wireAliases(rng: Rng, ids: readonly string[], aliases: Map<string, string[]>): void {
  const add = (from: string, to: string) => aliases.get(from)?.push(to)
  const edges = int(rng, 1, Math.max(2, Math.ceil(ids.length * 0.9)))
  for (let e = 0; e < edges; e++) {
    const [a, b, c] = shuffled(rng, ids)
    if (!a) return
    const kind = rng()
    if (kind < 0.25 && b && c) {
      add(a, b)
      add(b, c)
    } else if (kind < 0.45 && b) {
      add(a, b)
      add(b, a)
    } else if (kind < 0.65 && b) {
      const cve = pick(rng, CVE)
      add(a, cve)
      add(b, cve)
    } else if (kind < 0.8 && b) {
      add(a, b)
    } else if (kind < 0.9) {
      add(a, pick(rng, ALL_IDS))
    } else {
      const list = aliases.get(a) ?? []
      add(a, list.length > 0 ? pick(rng, list) : a)
    }
  }
}

interface World {
  rng: Rng
  tick: number
  /** Live records by id (withdrawn ones are gone). */
  live: Map<string, OsvRecord>
}

function stamp(w: World): string {
  return new Date(Date.UTC(2024, 0, 1) + ++w.tick * 60_000).toISOString()
}

function makeRecord(w: World, id: string, aliases: string[]): OsvRecord {
  const rec: OsvRecord = { id, modified: stamp(w), aliases, affected: randomAffected(w.rng) }
  rec.summary = `${id} issue ${int(w.rng, 0, 3)}`
  rec.database_specific = { severity: pick(w.rng, SEVERITY) }
  return rec
}

function initialRecords(w: World): OsvRecord[] {
  const { rng } = w
  const pool = shuffled(rng, RECORD_IDS)
  const n = int(rng, 3, 10)
  const ids = pool.slice(0, n)
  // Now and then a record whose own id is a CVE: other records' CVE aliases then point at it.
  for (const cve of CVE) if (ids.length < 12 && chance(rng, 0.1)) ids.push(cve)
  const aliases = new Map(ids.map((id) => [id, [] as string[]]))
  wireAliases(rng, [...ids, ...shuffled(rng, ALL_IDS.filter((i) => !ids.includes(i))).slice(0, 2)], aliases)
  return ids.map((id) => makeRecord(w, id, aliases.get(id)!))
}

/** A changed copy of a live record: fixed moved, range widened, aliases rewired, package moved, text changed. */
function mutate(w: World, rec: OsvRecord): OsvRecord {
  const { rng } = w
  const next = structuredClone(rec)
  next.modified = stamp(w)
  const edits = int(rng, 1, 2)
  for (let e = 0; e < edits; e++) {
    const kind = rng()
    const entries = next.affected ?? []
    const entry = entries.length > 0 ? pick(rng, entries) : undefined
    const range = entry?.ranges?.[0]
    if (kind < 0.2 && range) {
      // Move a fixed event (or add one).
      const fixed = range.events.find((ev) => ev.fixed !== undefined)
      if (fixed) fixed.fixed = pick(rng, VERSIONS)
      else range.events.push({ fixed: pick(rng, VERSIONS) })
    } else if (kind < 0.3 && range) {
      // Widen: everything from 0, fix dropped or moved late.
      range.events = chance(rng, 0.5) ? [{ introduced: '0' }] : [{ introduced: '0' }, { fixed: pick(rng, VERSIONS.slice(-3)) }]
    } else if (kind < 0.4 && entry) {
      entry.ranges = [{ type: 'ECOSYSTEM', events: randomEvents(rng) }]
    } else if (kind < 0.7) {
      // Rewire aliases: drop some, add edges to live ids, CVEs, absent ids, both directions at times.
      const kept = (next.aliases ?? []).filter(() => chance(rng, 0.5))
      const targets = [...w.live.keys(), ...ALL_IDS].filter((i) => i !== next.id)
      for (let k = int(rng, 0, 3); k > 0; k--) kept.push(pick(rng, targets))
      next.aliases = kept
    } else if (kind < 0.8) {
      // Move the record between packages.
      next.affected = chance(rng, 0.5) ? [randomEntry(rng, OTHER)] : randomAffected(rng)
    } else {
      // Content only: same matches, different finding fields.
      next.summary = `${next.id} issue ${int(rng, 4, 9)}`
      next.database_specific = { severity: pick(rng, SEVERITY) }
    }
  }
  return next
}

/** One feed delta: changes, withdrawals, additions (and re-additions), the odd no-op. */
function randomDelta(w: World): OsvRecord[] {
  const { rng } = w
  const delta: OsvRecord[] = []
  // Some deltas are small (a record or two, the daemon's usual case), others rewrite much of the list.
  const scale = chance(rng, 0.4) ? 0.2 : 1
  for (const rec of w.live.values()) {
    const r = rng() / scale
    if (r < 0.3) delta.push(mutate(w, rec))
    else if (r < 0.42) delta.push({ ...structuredClone(rec), modified: stamp(w), withdrawn: stamp(w) })
    else if (r < 0.45) delta.push(structuredClone(rec)) // resent as is: unchanged
  }
  const absent = ALL_IDS.filter((id) => !w.live.has(id) && chance(rng, (RECORD_IDS.includes(id) ? 0.2 : 0.05) * scale))
  if (absent.length > 0) {
    const aliases = new Map(absent.map((id) => [id, [] as string[]]))
    wireAliases(rng, [...absent, ...shuffled(rng, [...w.live.keys()]).slice(0, 3)], aliases)
    for (const id of absent) delta.push(makeRecord(w, id, aliases.get(id)!))
  }
  // Withdrawing a record that is not there.
  if (chance(rng, 0.05)) {
    const id = pick(rng, ALL_IDS.filter((i) => !w.live.has(i) && !absent.includes(i)).concat(['PYSEC-2020-99']))
    delta.push({ id, modified: stamp(w), withdrawn: stamp(w), aliases: [], affected: [randomEntry(rng, PKG)] })
  }
  if (delta.length === 0) {
    const rec = pick(rng, [...w.live.values()])
    if (rec) delta.push(mutate(w, rec))
    else delta.push(makeRecord(w, pick(rng, RECORD_IDS), []))
  }
  return delta
}

function applyToWorld(w: World, delta: readonly OsvRecord[]): void {
  for (const rec of delta) {
    if (rec.withdrawn) w.live.delete(rec.id)
    else w.live.set(rec.id, rec)
  }
}

/** Ids of advisories under the package's key that affect the version (picked or skipped). */
function affectingIds(store: Store, version: string): Set<string> {
  const out = new Set<string>()
  for (const adv of readCompiled(store, storeKey('PyPI', PKG))) if (affects(adv, version)) out.add(adv.id)
  return out
}

interface Stats {
  checks: number
  changed: number
  /** Findings that changed for an id that was NOT in the delta (moved by de-duplication alone). */
  indirect: number
  /** An advisory affecting the version is skipped because an alias of it was reported. */
  dedupInPlay: number
  /** Same advisory affects before and after, but the delta flipped whether it is reported. */
  dedupFlips: number
  /** matchChanged re-evaluated fewer advisories than the package has. */
  partial: number
  /** Rounds with at least one changed finding / with de-duplication in play. */
  roundsChanged: number
  roundsDedup: number
}

interface Failure {
  seed: number
  delta: number
  version: string
  spelling: string
  before: OsvRecord[]
  change: OsvRecord[]
  causes: string[]
  ids: string[]
  got: Finding[]
  partial: Finding[]
  expected: Finding[]
  old: Finding[]
}

async function round(seed: number, stats: Stats, failures: Failure[]): Promise<void> {
  const rng = seeded(seed)
  const w: World = { rng, tick: 0, live: new Map() }
  const t = tempStore()
  let changedHere = false
  let dedupHere = false
  try {
    const first = initialRecords(w)
    await importRecords(t, first, 'initial')
    applyToWorld(w, first)
    const spelling = pick(rng, SPELLINGS)
    for (let d = 0; d < DELTAS; d++) {
      const before = [...w.live.values()].map((r) => structuredClone(r))
      const old = new Map<string, Finding[]>()
      const oldAffecting = new Map<string, Set<string>>()
      for (const v of INSTALLED) {
        old.set(v, matchPackage(t.store, lang(v, spelling)))
        oldAffecting.set(v, affectingIds(t.store, v))
      }
      const delta = randomDelta(w)
      await importRecords(t, delta, `delta-${d}`)
      applyToWorld(w, delta)
      const causes = new Set(delta.map((r) => r.id))
      const listSize = readCompiled(t.store, storeKey('PyPI', PKG)).length
      for (const v of INSTALLED) {
        const pkg = lang(v, spelling)
        const oldFindings = old.get(v)!
        const oldById = new Map(oldFindings.map((f) => [f.id, f]))
        const fresh = matchPackage(t.store, pkg)
        const res = matchChanged(t.store, pkg, undefined, causes, oldFindings.filter((f) => causes.has(f.id)))
        const merged = [...oldFindings.filter((f) => !res.ids.has(f.id)), ...res.findings].sort(byId)
        stats.checks++
        const uniqueFindings = new Set(res.findings.map((f) => f.id)).size === res.findings.length
        const withinIds = res.findings.every((f) => res.ids.has(f.id))
        if (!isDeepStrictEqual(merged, fresh) || !uniqueFindings || !withinIds) {
          failures.push({
            seed, delta: d, version: v, spelling, before, change: delta, causes: [...causes], ids: [...res.ids],
            got: merged, partial: res.findings, expected: fresh, old: oldFindings,
          })
        }
        if (res.ids.size < listSize) stats.partial++
        if (!isDeepStrictEqual(oldFindings, fresh)) {
          stats.changed++
          changedHere = true
          const freshById = new Map(fresh.map((f) => [f.id, f]))
          const ids = new Set([...oldById.keys(), ...freshById.keys()])
          for (const id of ids) if (!causes.has(id) && !isDeepStrictEqual(oldById.get(id), freshById.get(id))) stats.indirect++
        }
        const nowAffecting = affectingIds(t.store, v)
        const freshIds = new Set(fresh.map((f) => f.id))
        if ([...nowAffecting].some((id) => !freshIds.has(id))) {
          stats.dedupInPlay++
          dedupHere = true
        }
        for (const id of nowAffecting) {
          if (oldAffecting.get(v)!.has(id) && oldById.has(id) !== freshIds.has(id)) stats.dedupFlips++
        }
      }
    }
  } finally {
    await t.done()
  }
  if (changedHere) stats.roundsChanged++
  if (dedupHere) stats.roundsDedup++
}

function describeFailure(f: Failure): string {
  const brief = (fs: readonly Finding[]) => fs.map((x) => `${x.id}[${x.aliases.join(',')}] ${x.severity} ${x.state} fix=${x.fixedVersions.join(',')} "${x.title ?? ''}"`)
  return JSON.stringify(
    {
      seed: f.seed, delta: f.delta, installed: f.version, spelling: f.spelling, causes: f.causes, ids: f.ids,
      old: brief(f.old), partialFindings: brief(f.partial), got: brief(f.got), expected: brief(f.expected),
      recordsBefore: f.before, delta_records: f.change,
    },
    null,
    1,
  )
}

describe('matchChanged equals a full re-match under alias de-duplication', () => {
  it(`${ROUNDS} seeded rounds × ${DELTAS} random OSV deltas`, async () => {
    const stats: Stats = { checks: 0, changed: 0, indirect: 0, dedupInPlay: 0, dedupFlips: 0, partial: 0, roundsChanged: 0, roundsDedup: 0 }
    const failures: Failure[] = []
    for (let seed = 1; seed <= ROUNDS; seed++) await round(seed, stats, failures)
    if (failures.length > 0) {
      const seeds = [...new Set(failures.map((f) => f.seed))]
      expect.fail(`${failures.length} mismatches in seeds ${seeds.join(',')}; first:\n${describeFailure(failures[0]!)}`)
    }
    // Not vacuous: findings moved, some only through de-duplication, and de-duplication was live.
    expect(stats.checks).toBe(ROUNDS * DELTAS * INSTALLED.length)
    expect(stats.roundsChanged).toBeGreaterThan(ROUNDS / 2)
    expect(stats.roundsDedup).toBeGreaterThan(ROUNDS / 4)
    expect(stats.dedupInPlay).toBeGreaterThan(0)
    expect(stats.dedupFlips).toBeGreaterThan(0)
    expect(stats.indirect).toBeGreaterThan(0)
    expect(stats.partial).toBeGreaterThan(0)
    console.log(`matchChanged property: ${JSON.stringify(stats)}`)
  }, 600_000)
})
