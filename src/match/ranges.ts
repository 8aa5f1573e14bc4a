import type { AffectedRange, CompiledAdvisory, Interval, RangeEvent } from './model.js'
import type { Compare } from './compare.js'

type CompiledRange = CompiledAdvisory['ranges'][number]

function eventVersion(e: RangeEvent): string | undefined {
  return e.introduced ?? e.fixed ?? e.last_affected ?? e.limit
}

/**
 * OSV events → intervals. The spec evaluates events sorted by version; sorting once at import
 * means matching is a few comparisons per interval. When the comparator rejects a version the
 * feed's own order is kept (feeds write events in order).
 */
export function compileRange(range: AffectedRange, cmp: Compare | undefined): CompiledRange {
  let events = range.events.filter((e) => eventVersion(e) !== undefined)
  if (cmp) {
    try {
      events = [...events].sort((a, b) => {
        if (a.introduced === '0') return b.introduced === '0' ? 0 : -1
        if (b.introduced === '0') return 1
        return cmp(eventVersion(a)!, eventVersion(b)!)
      })
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
