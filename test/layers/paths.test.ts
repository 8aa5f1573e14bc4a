import { describe, expect, it } from 'vitest'
import { isAtOrBelow, isBelow, normalizeEntryPath } from '../../src/layers/paths.js'

describe('normalizeEntryPath', () => {
  it.each([
    ['usr/bin/x', 'usr/bin/x'],
    ['./usr/bin/x', 'usr/bin/x'],
    ['/usr/bin/x', 'usr/bin/x'],
    ['//./usr//bin/./x/', 'usr/bin/x'],
    ['usr/lib/../bin/x', 'usr/bin/x'],
    ['./', ''],
    ['.wh..wh..opq', '.wh..wh..opq'],
    ['a/..', ''],
  ])('%s → %s', (raw, want) => expect(normalizeEntryPath(raw)).toBe(want))

  it.each(['..', '../etc/passwd', 'a/../../etc', '/../x', './../x'])('%s escapes the root', (raw) => expect(normalizeEntryPath(raw)).toBeNull())
})

describe('path containment', () => {
  it('is by whole segments', () => {
    expect(isAtOrBelow('opt/app', 'opt/app')).toBe(true)
    expect(isBelow('opt/app', 'opt/app')).toBe(false)
    expect(isBelow('opt/app/x', 'opt/app')).toBe(true)
    expect(isBelow('opt/application', 'opt/app')).toBe(false)
    expect(isBelow('anything', '')).toBe(true)
  })
})
