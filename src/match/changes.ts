import type { Store } from '../store/env.js'
import { readCache, readCompiled, type ReadCache } from '../store/advisories.js'
import type { OsInfo, Package } from '../types.js'
import { advisoryVersion, affectedKeys } from './keys.js'
import { affects, toFinding } from './matcher.js'
import type { CompiledAdvisory } from './model.js'
import type { Finding } from './types.js'

/**
 * Re-matching one package after a feed delta without evaluating every advisory under its key.
 *
 * matchPackage picks advisories greedily in list order: an advisory that affects the version is
 * reported unless an earlier pick is "the same vulnerability" — same id, or one's id among the
 * other's aliases (relation R, symmetric). Whether an advisory is picked therefore depends only
 * on the advisories connected to it through R, so the list splits into independent components.
 * A delta that changed the records with ids in `causes` can change picks only in the components
 * that hold a changed record now, or that an old pick of a changed record touched (its id and
 * aliases are in the package's old findings). Re-running the greedy pick over those components
 * alone gives exactly the findings matchPackage would give for them; every other finding stays
 * as stored. A popular package has hundreds of advisories and a one-advisory delta re-evaluates
 * one or two of them.
 */
export interface ChangedMatch {
  /** Advisory ids whose findings were re-evaluated (the stored ones for these ids are replaced). */
  ids: Set<string>
  /** The package's findings among `ids`, as matchPackage gives them. */
  findings: Finding[]
}

interface Indexed {
  position: Map<CompiledAdvisory, number>
  byId: Map<string, CompiledAdvisory[]>
  byAlias: Map<string, CompiledAdvisory[]>
}

// Compiled lists are immutable and cached per advisory generation: index each once.
const indexes = new WeakMap<readonly CompiledAdvisory[], Indexed>()

function indexOf(list: readonly CompiledAdvisory[]): Indexed {
  let ix = indexes.get(list)
  if (ix) return ix
  ix = { position: new Map(), byId: new Map(), byAlias: new Map() }
  list.forEach((adv, i) => {
    ix!.position.set(adv, i)
    push(ix!.byId, adv.id, adv)
    for (const a of adv.aliases) push(ix!.byAlias, a, adv)
  })
  indexes.set(list, ix)
  return ix
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}

/** Advisories of the list related by R to something with this id and these aliases. */
function related(ix: Indexed, id: string, aliases: readonly string[], into: (adv: CompiledAdvisory) => void): void {
  for (const adv of ix.byId.get(id) ?? []) into(adv)
  for (const a of aliases) for (const adv of ix.byId.get(a) ?? []) into(adv)
  for (const adv of ix.byAlias.get(id) ?? []) into(adv)
}

/** The list's advisories whose id is a cause: the same for every variant under the key. */
const seedCache = new WeakMap<readonly CompiledAdvisory[], { causes: ReadonlySet<string>; seeds: CompiledAdvisory[] }>()

function seedsOf(list: readonly CompiledAdvisory[], ix: Indexed, causes: ReadonlySet<string>): CompiledAdvisory[] {
  const hit = seedCache.get(list)
  if (hit && hit.causes === causes) return hit.seeds
  const seeds: CompiledAdvisory[] = []
  if (causes.size < list.length) {
    for (const id of causes) for (const adv of ix.byId.get(id) ?? []) seeds.push(adv)
  } else {
    for (const adv of list) if (causes.has(adv.id)) seeds.push(adv)
  }
  seedCache.set(list, { causes, seeds })
  return seeds
}

/**
 * The closure of one list's seeds, in list order: for a one-key package whose old picks reach
 * nothing outside it (the usual case: the old pick is the changed record itself), this is the
 * whole component, the same for every deployed version of the package.
 */
const closureCache = new WeakMap<readonly CompiledAdvisory[], { causes: ReadonlySet<string>; members: Set<CompiledAdvisory>; sorted: CompiledAdvisory[] }>()

function seedClosure(list: readonly CompiledAdvisory[], ix: Indexed, causes: ReadonlySet<string>) {
  const hit = closureCache.get(list)
  if (hit && hit.causes === causes) return hit
  const members = new Set<CompiledAdvisory>()
  const queue: CompiledAdvisory[] = []
  const add = (adv: CompiledAdvisory) => {
    if (members.has(adv)) return
    members.add(adv)
    queue.push(adv)
  }
  for (const adv of seedsOf(list, ix, causes)) add(adv)
  while (queue.length > 0) {
    const adv = queue.pop()!
    related(ix, adv.id, adv.aliases, add)
  }
  const sorted = [...members].sort((a, b) => ix.position.get(a)! - ix.position.get(b)!)
  const entry = { causes, members, sorted }
  closureCache.set(list, entry)
  return entry
}

/** The advisories whose picks the delta can change, in matchPackage's order (keys, then list). */
function componentOf(
  lists: readonly (readonly CompiledAdvisory[])[], indexed: readonly Indexed[], causes: ReadonlySet<string>, oldPicks: readonly Finding[],
): readonly CompiledAdvisory[] {
  if (lists.length === 1) {
    const ix = indexed[0]!
    const base = seedClosure(lists[0]!, ix, causes)
    let outside = false
    for (const f of oldPicks) related(ix, f.id, f.aliases, (adv) => (outside ||= !base.members.has(adv)))
    if (!outside) return base.sorted
  }
  const order = new Map<CompiledAdvisory, number>()
  const queue: CompiledAdvisory[] = []
  const add = (adv: CompiledAdvisory) => {
    if (order.has(adv)) return
    const k = indexed.findIndex((ix) => ix.position.has(adv))
    order.set(adv, k * 0x100000000 + indexed[k]!.position.get(adv)!)
    queue.push(adv)
  }
  indexed.forEach((ix, k) => {
    for (const adv of seedsOf(lists[k]!, ix, causes)) add(adv)
    for (const f of oldPicks) related(ix, f.id, f.aliases, add)
  })
  while (queue.length > 0) {
    const adv = queue.pop()!
    for (const ix of indexed) related(ix, adv.id, adv.aliases, add)
  }
  return [...order].sort((a, b) => a[1] - b[1]).map(([adv]) => adv)
}

/**
 * `oldPicks`: the package's findings, before the delta, whose id is in `causes` (pass the same
 * `causes` Set for every package of one delta: per-key work is cached on it). `cache`: the
 * store's read cache, when the caller already holds it for this pass (one generation read per
 * delta instead of one per package).
 */
export function matchChanged(
  store: Store, pkg: Package, os: OsInfo | undefined, causes: ReadonlySet<string>, oldPicks: readonly Finding[],
  cache: ReadCache = readCache(store),
): ChangedMatch {
  const ids = new Set<string>()
  const picked: Finding[] = []
  const keys = affectedKeys(pkg, os)
  const version = advisoryVersion(pkg, os)
  const lists = keys.map((key) => readCompiled(store, key, cache))
  const indexed = lists.map(indexOf)
  for (const f of oldPicks) ids.add(f.id)
  const component = componentOf(lists, indexed, causes, oldPicks)
  if (component.length === 0) return { ids, findings: picked }
  // matchPackage's greedy pick, over the affected components only (match/matcher.ts matchWith).
  const seenIds = new Set<string>()
  const seenAliases = new Set<string>()
  for (const adv of component) {
    ids.add(adv.id)
    if (seenIds.has(adv.id) || seenAliases.has(adv.id) || adv.aliases.some((a) => seenIds.has(a))) continue
    if (!affects(adv, version)) continue
    seenIds.add(adv.id)
    for (const a of adv.aliases) seenAliases.add(a)
    picked.push(toFinding(store, cache, adv, pkg))
  }
  if (keys.length > 1) picked.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return { ids, findings: picked }
}
