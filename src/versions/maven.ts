import type { Ordering, VersionScheme } from './types.js'
import { compareDigits, invalidVersion, ParseCache } from './util.js'

/**
 * Maven ComparableVersion (maven-artifact, current master: MNG-7644 combination items, MNG-6964
 * whole-list null comparison, 256-character limit). Hand-written: no npm package tracks the
 * current Java semantics. Numbers of any size are one kind here (Java splits them into int, long
 * and BigInteger items, whose cross-type order is the numeric order anyway, since leading zeros
 * are stripped).
 */
type Item = NumItem | StrItem | ComboItem | ListItem
interface NumItem { k: 0; digits: string }
interface StrItem { k: 1; value: string; cmp: string }
interface ComboItem { k: 2; str: StrItem; num: Item }
interface ListItem { k: 3; items: Item[] }

const QUALIFIERS = ['alpha', 'beta', 'milestone', 'rc', 'snapshot', '', 'sp']
const RELEASE_QUALIFIERS = new Set(['ga', 'final', 'release'])
const RELEASE_INDEX = String(QUALIFIERS.indexOf(''))
const MAX_LENGTH = 256

function comparableQualifier(q: string): string {
  if (RELEASE_QUALIFIERS.has(q)) return RELEASE_INDEX
  const i = QUALIFIERS.indexOf(q)
  return i === -1 ? `${QUALIFIERS.length}-${q}` : String(i)
}

function str(value: string, followedByDigit: boolean): StrItem {
  if (followedByDigit && value.length === 1) {
    if (value === 'a') value = 'alpha'
    else if (value === 'b') value = 'beta'
    else if (value === 'm') value = 'milestone'
  }
  if (value === 'cr') value = 'rc'
  return { k: 1, value, cmp: comparableQualifier(value) }
}

function num(digits: string): NumItem {
  let i = 0
  while (i < digits.length - 1 && digits.charCodeAt(i) === 48) i++
  return { k: 0, digits: i === 0 ? digits || '0' : digits.slice(i) }
}

const ZERO: NumItem = { k: 0, digits: '0' }

function combo(value: string): ComboItem {
  let index = 0
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      index = i
      break
    }
  }
  return { k: 2, str: str(value.slice(0, index), true), num: parseItem(false, true, value.slice(index)) }
}

function parseItem(isCombination: boolean, isDigit: boolean, buf: string): Item {
  if (isCombination) return combo(buf.replaceAll('-', ''))
  if (isDigit) return num(buf)
  return str(buf, false)
}

const isNull = (it: Item): boolean =>
  it.k === 0 ? it.digits === '0' : it.k === 1 ? it.value === '' : it.k === 3 ? it.items.length === 0 : false

function cmpStr(a: string, b: string): Ordering {
  return a < b ? -1 : a > b ? 1 : 0
}

/** `a.compareTo(b)`, with `b === null` meaning "nothing there" (padding). */
function cmp(a: Item, b: Item | null): Ordering {
  switch (a.k) {
    case 0: return cmpNum(a, b)
    case 1: return cmpStrItem(a, b)
    case 2: return cmpCombo(a, b)
    case 3: return cmpList(a, b)
  }
}

function cmpNum(a: NumItem, b: Item | null): Ordering {
  if (b === null) return a.digits === '0' ? 0 : 1
  return b.k === 0 ? compareDigits(a.digits, b.digits) : 1
}

function cmpStrItem(a: StrItem, b: Item | null): Ordering {
  if (b === null) return cmpStr(a.cmp, RELEASE_INDEX)
  switch (b.k) {
    case 0: return -1
    case 1: return cmpStr(a.cmp, b.cmp)
    case 2: {
      const r = cmpStrItem(a, b.str)
      if (r !== 0) return r
      return cmpStrItem(a, null) === 0 ? neg(cmp(b.num, null)) : -1
    }
    case 3: return neg(cmpList(b, a))
  }
}

function cmpCombo(a: ComboItem, b: Item | null): Ordering {
  if (b === null) {
    // 1-rc1 < 1 < 1-ga1: a release-equivalent string part lets the number decide
    const r = cmpStrItem(a.str, null)
    return r === 0 ? cmp(a.num, null) : r
  }
  switch (b.k) {
    case 0: return -1
    case 1: {
      const r = cmpStrItem(a.str, b)
      if (r !== 0) return r
      return cmpStrItem(a.str, null) === 0 ? cmp(a.num, null) : 1
    }
    case 2: return cmpStrItem(a.str, b.str) || cmp(a.num, b.num)
    case 3: return neg(cmpList(b, a))
  }
}

function cmpList(a: ListItem, b: Item | null): Ordering {
  const items = a.items
  if (b === null) {
    // the whole list against nothing, not just its first item (MNG-6964)
    for (const it of items) {
      const r = cmp(it, null)
      if (r !== 0) return r
    }
    return 0
  }
  switch (b.k) {
    case 0: return -1
    case 1:
    case 2: {
      let r = items.length === 0 ? neg(cmp(b, null)) : cmp(items[0]!, b)
      for (let i = 1; r === 0 && i < items.length; i++) r = cmp(items[i]!, null)
      return r
    }
    case 3: {
      const other = b.items
      const n = Math.max(items.length, other.length)
      for (let i = 0; i < n; i++) {
        const l = items[i]
        const r = other[i]
        const res = l === undefined ? (r === undefined ? 0 : neg(cmp(r, null))) : cmp(l, r ?? null)
        if (res !== 0) return res
      }
      return 0
    }
  }
}

const neg = (o: Ordering): Ordering => (o === 0 ? 0 : (-o as Ordering))

function normalize(list: ListItem): void {
  const items = list.items
  for (let i = items.length - 1; i >= 0; i--) {
    const last = items[i]!
    if (!isNull(last)) continue
    const next = items[i + 1]
    if (i === items.length - 1 || next?.k === 1) items.splice(i, 1)
    else if (next?.k === 3) {
      const first = next.items[0]
      if (first && (first.k === 2 || first.k === 1)) items.splice(i, 1)
    }
  }
  const only = items.length === 1 ? items[0] : undefined
  // dropping a zero prefix must not leave an extra level of nesting
  if (only?.k === 3) list.items = only.items
}

export function parseMaven(version: string): ListItem {
  if (version.length > MAX_LENGTH) throw invalidVersion('maven', version, `longer than ${MAX_LENGTH} characters`)
  if (version.trim().length === 0) throw invalidVersion('maven', version, 'empty')
  const v = version.toLowerCase()
  const root: ListItem = { k: 3, items: [] }
  let list = root
  const stack: ListItem[] = [root]
  let isDigit = false
  let isCombination = false
  let start = 0
  const push = (): void => {
    const l: ListItem = { k: 3, items: [] }
    list.items.push(l)
    list = l
    stack.push(l)
  }
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c === 46) {
      list.items.push(i === start ? ZERO : parseItem(isCombination, isDigit, v.slice(start, i)))
      isCombination = false
      start = i + 1
    } else if (c === 45) {
      if (i === start) list.items.push(ZERO)
      else {
        // X-1 is read as X1
        if (!isDigit && i !== v.length - 1) {
          const c1 = v.charCodeAt(i + 1)
          if (c1 >= 48 && c1 <= 57) {
            isCombination = true
            continue
          }
        }
        list.items.push(parseItem(isCombination, isDigit, v.slice(start, i)))
      }
      start = i + 1
      if (list.items.length > 0) push()
      isCombination = false
    } else if (c >= 48 && c <= 57) {
      if (!isDigit && i > start) {
        isCombination = true
        if (list.items.length > 0) push()
      }
      isDigit = true
    } else {
      if (isDigit && i > start) {
        list.items.push(parseItem(isCombination, true, v.slice(start, i)))
        start = i
        push()
        isCombination = false
      }
      isDigit = false
    }
  }
  if (v.length > start) {
    // 1.0.0.X1 < 1.0.0-X2: a trailing `.X` is read as `-X`
    if (!isDigit && list.items.length > 0) push()
    list.items.push(parseItem(isCombination, isDigit, v.slice(start)))
  }
  for (let i = stack.length - 1; i >= 0; i--) normalize(stack[i]!)
  return root
}

const cache = new ParseCache<ListItem>()

export const maven: VersionScheme = {
  name: 'maven',
  compare(a, b) {
    return cmp(cache.get(a, parseMaven), cache.get(b, parseMaven))
  },
  isValid(v) {
    try {
      parseMaven(v)
      return true
    } catch {
      return false
    }
  },
}
