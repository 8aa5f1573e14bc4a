import { alpineSource } from './alpine.js'
import { debianSource } from './debian.js'
import { epssSource } from './epss.js'
import { kevSource } from './kev.js'
import { osvSource } from './osv.js'
import type { FeedSource, SourceOptions, SyncUnit } from './types.js'

export type { FeedSource, SourceOptions, SyncUnit, OsvUnit, SnapshotUnit, ExploitUnit } from './types.js'
export { DEFAULT_OSV_ECOSYSTEMS } from './osv.js'
export { DEFAULT_ALPINE_BRANCHES } from './alpine.js'

/**
 * The feed source registry: an explicit array, one line per source. Adding a source is one file
 * in this folder plus one line here; test/feeds/sources.test.ts runs every entry.
 */
export const FEED_SOURCES: readonly FeedSource[] = [
  osvSource,
  debianSource,
  alpineSource,
  epssSource,
  kevSource,
]

export function sourceNamed(name: string): FeedSource | undefined {
  return FEED_SOURCES.find((s) => s.name === name)
}

/**
 * The units selected by `--source` values: a source name (`osv`), or a unit id or id prefix
 * (`osv/PyPI`, `alpine/v3.19`). No selector means every unit of every source.
 */
export function selectUnits(selectors: readonly string[], options: SourceOptions = {}): { units: SyncUnit[]; unknown: string[] } {
  const all = FEED_SOURCES.flatMap((s) => s.units(options))
  if (selectors.length === 0) return { units: all, unknown: [] }
  const unknown: string[] = []
  const picked = new Set<SyncUnit>()
  for (const sel of selectors) {
    const hits = all.filter((u) => u.source === sel || u.id === sel || u.id.startsWith(`${sel}/`))
    if (hits.length === 0) unknown.push(sel)
    for (const u of hits) picked.add(u)
  }
  return { units: all.filter((u) => picked.has(u)), unknown }
}
