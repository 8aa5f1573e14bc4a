import { readFileSync } from 'node:fs'
import { VigilError } from '../../src/errors.js'
import type { Ordering, VersionScheme } from '../../src/versions/types.js'
import { sharedPath } from '../helpers/shared.js'

/** Rows of a vector file under ../shared/data/version, comments and blank lines dropped. */
export function rows(rel: string): string[][] {
  return readFileSync(sharedPath('version', rel), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split('\t'))
}

export interface Tally {
  total: number
  agree: number
  /** disagreements with a reason from upstream (PROVENANCE.md) or docs/versions.md */
  explained: string[]
  /** disagreements nobody explains: the test fails on any */
  wrong: string[]
}

export function tally(): Tally {
  return { total: 0, agree: 0, explained: [], wrong: [] }
}

export function report(file: string, t: Tally): void {
  const extra = t.explained.length ? ` (${t.explained.length} explained upstream disagreements)` : ''
  console.log(`${file}: ${t.agree}/${t.total}${extra}`)
}

type Outcome = Ordering | 'invalid'

function outcome(f: () => Ordering): Outcome {
  try {
    return f()
  } catch (err) {
    if (VigilError.is(err) && err.code === 'ERR_VERSION_INVALID') return 'invalid'
    throw err
  }
}

/**
 * A comparison TSV (`a b expected`), checked in both directions. `explain` may name an upstream
 * reason for a row that disagrees; such rows are reported but do not fail.
 */
export function checkComparisons(
  file: string,
  cmp: (a: string, b: string) => Ordering,
  explain?: (a: string, b: string, want: Ordering, got: Outcome) => string | undefined,
  data: string[][] = rows(file),
): Tally {
  const t = tally()
  for (const [a = '', b = '', exp = ''] of data) {
    const want = Number(exp) as Ordering
    const got = outcome(() => cmp(a, b))
    const back = outcome(() => cmp(b, a))
    t.total++
    if (got === want && back === -want) {
      t.agree++
      continue
    }
    const why = explain?.(a, b, want, got)
    const line = `${a} vs ${b}: want ${want}, got ${got} (reverse ${back})`
    if (why) t.explained.push(`${line}: ${why}`)
    else t.wrong.push(line)
  }
  return t
}

export function schemeCmp(s: VersionScheme): (a: string, b: string) => Ordering {
  return (a, b) => s.compare(a, b)
}
