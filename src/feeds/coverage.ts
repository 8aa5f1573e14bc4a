import { packageEcosystem } from '../match/keys.js'
import type { Store } from '../store/env.js'
import type { Inventory } from '../types.js'

/**
 * Which of an inventory's ecosystems the store has advisories for. A scan against a store
 * without data for any of them would report "0 findings" and pass: `vigil scan` refuses that
 * (ERR_NO_DATA) unless told otherwise, and names the ecosystems that have none.
 */
export function advisoryCoverage(store: Store, inventory: Pick<Inventory, 'packages' | 'os'>): { covered: string[]; missing: string[] } {
  const ecosystems = new Set<string>()
  for (const p of inventory.packages) {
    const eco = packageEcosystem(p, inventory.os)
    if (eco) ecosystems.add(eco)
  }
  const covered: string[] = []
  const missing: string[] = []
  for (const eco of [...ecosystems].sort()) {
    const any = store.advisories.getKeysCount({ start: `${eco}\0`, end: `${eco}\u0001`, limit: 1 }) > 0
    ;(any ? covered : missing).push(eco)
  }
  return { covered, missing }
}
