import type { Store } from './env.js'
import { readCompiled, type ReadCache } from './advisories.js'
import type { CompiledAdvisory } from '../match/model.js'

/**
 * Which advisory ids a package variant can have stored findings for, without an index per
 * variant: the ids compiled under the variant's store keys, plus the ids that left one of those
 * lists (a withdrawn record, or a record that no longer names the package) whose findings the
 * re-assessment of the key has not removed yet (`departed`: key → ids).
 *
 * Why not a [variant, id] index: a delta changes one advisory's findings in hundreds of variants,
 * and such an index put each of those entries on its own page, which was most of the delta's
 * commit. Findings are grouped by advisory id (store/finding-groups.ts) and this list says which
 * ids' groups to look in for one variant.
 *
 * The import writes `departed` in its own transaction; re-assessing the key with the departed id
 * among its causes (or re-matching the key's variants whole) removes those findings and settles
 * the entry in the same commit. Every feed import bumps the advisory generation, so a list cached
 * per generation is never short of an id (a settled id only costs a read that finds nothing).
 */
const lists = new WeakMap<ReadCache, Map<string, readonly string[]>>()

/** Sorted, distinct advisory ids a variant under these keys can have findings for. */
export function advisoryIdsUnder(store: Store, keys: readonly string[], cache: ReadCache): readonly string[] {
  let byKeys = lists.get(cache)
  if (!byKeys) lists.set(cache, (byKeys = new Map()))
  const cacheKey = keys.length === 1 ? keys[0]! : keys.join('\n')
  let ids = byKeys.get(cacheKey)
  if (ids === undefined) {
    const all = new Set<string>()
    for (const key of keys) {
      for (const adv of readCompiled(store, key, cache)) all.add(adv.id)
      for (const id of departedIds(store, key)) all.add(id)
    }
    ids = [...all].sort(byCodeUnit)
    byKeys.set(cacheKey, ids)
  }
  return ids
}

function departedIds(store: Store, key: string): readonly string[] {
  return (store.departed.get(key) as string[] | undefined) ?? []
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Inside the import's transaction: `removed` holds, per key, the ids whose compiled entries the
 * import took out; those no longer in the key's final list are recorded as departed.
 */
export function recordDepartures(store: Store, removed: ReadonlyMap<string, ReadonlySet<string>>, finalLists: ReadonlyMap<string, readonly CompiledAdvisory[]>): void {
  for (const [key, ids] of removed) {
    const still = new Set((finalLists.get(key) ?? []).map((a) => a.id))
    const gone = [...ids].filter((id) => !still.has(id))
    if (gone.length === 0) continue
    const prior = departedIds(store, key)
    const next = [...new Set([...prior, ...gone])].sort(byCodeUnit)
    if (next.length !== prior.length) store.departed.putSync(key, next)
  }
}

/**
 * Inside the re-assessment's transaction, after the key's variants were re-matched for `causes`
 * (all of their findings when undefined): the departed ids among them have no findings left.
 */
export function settleDeparted(store: Store, key: string, causes: ReadonlySet<string> | undefined): void {
  const prior = store.departed.get(key) as string[] | undefined
  if (!prior) return
  const left = causes ? prior.filter((id) => !causes.has(id)) : []
  if (left.length === prior.length) return
  if (left.length === 0) store.departed.removeSync(key)
  else store.departed.putSync(key, left)
}
