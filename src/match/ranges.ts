import type { AffectedRange, CompiledAdvisory, Interval, RangeEvent } from './model.js'
import type { Compare } from './compare.js'

type CompiledRange = CompiledAdvisory['ranges'][number]

function eventVersion(e: RangeEvent): string | undefined {
  return e.introduced ?? e.fixed ?? e.last_affected ?? e.limit
}

/**
 * Where an event sits among events of the same version. The spec evaluates events sorted by
 * version and leaves ties open; these ranks make the walk give the union of the range's
 * intervals whatever order the file lists them in: `fixed: X` then `introduced: X` (two
 * touching intervals, PYSEC-2022-42972) keeps X affected, and `introduced: X` then
 * `last_affected: X` (one affected version) still ends after X.
 */
const TIE_RANK = { fixed: 0, limit: 0, introduced: 1, last_affected: 2 } as const

function tieRank(e: RangeEvent): number {
  return e.introduced !== undefined ? TIE_RANK.introduced : e.last_affected !== undefined ? TIE_RANK.last_affected : TIE_RANK.fixed
}

/** The spec's event order: `introduced: 0` first, then by version, ties by TIE_RANK. */
function sortEvents(events: readonly RangeEvent[], cmp: Compare): RangeEvent[] {
  return [...events].sort((a, b) => {
    if (a.introduced === '0') return b.introduced === '0' ? 0 : -1
    if (b.introduced === '0') return 1
    return cmp(eventVersion(a)!, eventVersion(b)!) || tieRank(a) - tieRank(b)
  })
}

/**
 * OSV events → intervals. The spec evaluates events sorted by version; sorting once at import
 * means matching is a few comparisons per interval. Walking the sorted events, the first
 * `introduced` opens an interval and the next `fixed`/`last_affected` closes it; that is the
 * spec's per-version walk (an event fires for every version at or past it, so the events that
 * fire are a prefix of the sorted list and the last one decides). When the comparator rejects
 * a version the feed's own order is kept (feeds write events in order).
 */
export function compileRange(range: AffectedRange, cmp: Compare | undefined): CompiledRange {
  let events = range.events.filter((e) => eventVersion(e) !== undefined)
  if (cmp) {
    try {
      events = sortEvents(events, cmp)
    } catch {
      // keep feed order
    }
  }
  const intervals: Interval[] = []
  const limits: string[] = []
  let open: Interval | undefined
  for (const e of events) {
    if (e.introduced !== undefined) {
      if (!open) open = e.introduced === '0' ? {} : { introduced: e.introduced }
    } else if (e.fixed !== undefined) {
      if (open) intervals.push({ ...open, fixed: e.fixed })
      open = undefined
    } else if (e.last_affected !== undefined) {
      if (open) intervals.push({ ...open, lastAffected: e.last_affected })
      open = undefined
    } else if (e.limit !== undefined) {
      limits.push(e.limit)
    }
  }
  if (open) intervals.push(open)
  return { type: range.type, intervals, limits }
}

/** Is `version` inside the compiled range? A version the comparator rejects is not affected. */
export function inRange(version: string, range: CompiledRange, cmp: Compare): Interval | undefined {
  try {
    if (range.limits.length > 0 && !range.limits.some((l) => l === '*' || cmp(version, l) < 0)) return undefined
    for (const iv of range.intervals) {
      if (iv.introduced !== undefined && cmp(version, iv.introduced) < 0) continue
      if (iv.fixed !== undefined && cmp(version, iv.fixed) >= 0) continue
      if (iv.lastAffected !== undefined && cmp(version, iv.lastAffected) > 0) continue
      return iv
    }
  } catch {
    return undefined
  }
  return undefined
}
