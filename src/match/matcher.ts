import type { Store } from '../store/env.js'
import { readCache, readCompiled, readExploit, type ReadCache } from '../store/advisories.js'
import type { Inventory, OsInfo, Package } from '../types.js'
import { comparatorFor } from './compare.js'
import { advisoryVersion, affectedKeys } from './keys.js'
import type { CompiledAdvisory } from './model.js'
import { inRange } from './ranges.js'
import { riskScore } from './risk.js'
import { preferredCvss, severityOf } from './severity.js'
import type { Finding, FixState } from './types.js'
import { materialize, type SharedFinding } from '../store/finding-groups.js'

/**
 * Findings for one package: a pure function of (store contents, package, os). Distro packages
 * are looked up only under their release's key (by source name / origin), so upstream ranges
 * never apply to them and the distro's fixed version wins (DESIGN.md "Matching rules").
 */
export function matchPackage(store: Store, pkg: Package, os?: OsInfo): Finding[] {
  return matchWith(store, readCache(store), pkg, os)
}

function matchWith(store: Store, cache: ReadCache, pkg: Package, os?: OsInfo): Finding[] {
  // OS-owned language packages reach here only when the inventory was built with
  // includeOsOwned (finalizeInventory drops them otherwise): then they are matched like any other.
  const findings: Finding[] = []
  // Allocated on the first finding only: most packages have none, and this runs per package.
  let seenIds: Set<string> | undefined
  let seenAliases: Set<string> | undefined
  const version = advisoryVersion(pkg, os)
  for (const key of affectedKeys(pkg, os)) {
    for (const adv of readCompiled(store, key, cache)) {
      // One vulnerability published under several ids (GO-… aliasing GHSA-…) is reported once.
      if (seenIds && (seenIds.has(adv.id) || seenAliases!.has(adv.id) || adv.aliases.some((a) => seenIds!.has(a)))) continue
      if (!affects(adv, version)) continue
      seenIds ??= new Set()
      seenAliases ??= new Set()
      seenIds.add(adv.id)
      for (const a of adv.aliases) seenAliases.add(a)
      findings.push(toFinding(store, cache, adv, pkg))
    }
  }
  // Lists are sorted by id: with one key (every ecosystem today) this is already id order, the
  // order the store keeps a variant's findings in (store/findings.ts).
  if (findings.length > 1 && !sortedById(findings)) findings.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return findings
}

function sortedById(findings: readonly Finding[]): boolean {
  for (let i = 1; i < findings.length; i++) if (findings[i - 1]!.id > findings[i]!.id) return false
  return true
}

/** matchPackage for every package, in inventory order. */
export function matchInventory(store: Store, inventory: Pick<Inventory, 'packages' | 'os'>): Finding[] {
  const cache = readCache(store)
  const out: Finding[] = []
  for (const pkg of inventory.packages) for (const f of matchWith(store, cache, pkg, inventory.os)) out.push(f)
  return out
}

/** PYSEC records list hundreds of versions; a Set per (cached, immutable) compiled advisory. */
const versionSets = new WeakMap<CompiledAdvisory, Set<string>>()

function listed(adv: CompiledAdvisory, version: string): boolean {
  if (adv.versions.length < 16) return adv.versions.includes(version)
  let set = versionSets.get(adv)
  if (!set) versionSets.set(adv, (set = new Set(adv.versions)))
  return set.has(version)
}

export function affects(adv: CompiledAdvisory, version: string): boolean {
  if (listed(adv, version)) return true
  for (const range of adv.ranges) {
    const cmp = comparatorFor(adv.ecosystem, range.type)
    if (cmp && inRange(version, range, cmp)) return true
  }
  return false
}

/** Severity depends on the compiled advisory alone; computed once per cached advisory. */
const ratings = new WeakMap<CompiledAdvisory, ReturnType<typeof severityOf> & { best: ReturnType<typeof preferredCvss> }>()

/**
 * Everything in a finding but the package comes from the advisory and its EPSS/KEV row: built once
 * per cached compiled advisory (a new advisory generation, which every exploit update bumps too,
 * decodes new ones) and shown for each package by `materialize`. The findings of one advisory
 * share its arrays (findings are never changed once made); they are copies of the compiled
 * advisory's, which the read cache shares.
 */
const sharedParts = new WeakMap<CompiledAdvisory, SharedFinding>()

export function toFinding(store: Store, cache: ReadCache, adv: CompiledAdvisory, pkg: Package): Finding {
  let shared = sharedParts.get(adv)
  if (!shared) sharedParts.set(adv, (shared = sharedFinding(store, cache, adv)))
  return materialize(shared, pkg)
}

function sharedFinding(store: Store, cache: ReadCache, adv: CompiledAdvisory): SharedFinding {
  const state: FixState = adv.state ?? (adv.fixed.length > 0 ? 'fixed' : 'affected')
  let rated = ratings.get(adv)
  if (!rated) ratings.set(adv, (rated = { ...severityOf(adv), best: preferredCvss(adv.cvss) }))
  const { severity, source, best } = rated
  const exploit = readExploit(store, adv.id, adv.aliases, cache)
  const shared: SharedFinding = {
    id: adv.id,
    aliases: adv.aliases.slice(),
    fixedVersions: state === 'fixed' ? adv.fixed.slice() : [],
    state,
    severity,
    severitySource: source,
    cvss: adv.cvss.map((c) => ({ ...c })),
    risk: riskScore({ severity, cvssScore: best?.score, epss: exploit.epss, kev: exploit.kev, state }),
  }
  if (exploit.epss !== undefined) shared.epss = exploit.epss
  if (exploit.kev) shared.kev = true
  if (adv.title) shared.title = adv.title
  if (adv.modified) shared.modified = adv.modified
  return shared
}
