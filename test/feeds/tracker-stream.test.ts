import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { importFeeds } from '../../src/match/index.js'
import { objectMembers, type Member } from '../../src/feeds/json-members.js'
import { keyString, type StoredRecord } from '../../src/store/advisories.js'
import type { Store } from '../../src/store/env.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { tempStore } from './helpers.js'

noteSharedMissing('streamed Debian tracker')

async function members(text: string, chunk: number, max = 1 << 30): Promise<(Member | string)[]> {
  const bytes = Buffer.from(text)
  const parts: Buffer[] = []
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk))
  const out: (Member | string)[] = []
  try {
    for await (const m of objectMembers(Readable.from(parts), max)) out.push(m)
  } catch (err) {
    out.push(`error: ${(err as Error).message}`)
  }
  return out
}

function fingerprints(store: Store): Record<string, string> {
  const out: Record<string, string> = {}
  for (const { key, value } of store.advisoryRecords.getRange({})) out[keyString(key)] = (value as StoredRecord).fingerprint
  return out
}

describe('top-level JSON members from a byte stream', () => {
  const doc = '{"a": {"x": "}\\"{", "y": [1, {"z": 2}]}, "b\\u0041" : 12 , "c": "s,}", "d": true}'
  it.each([1, 3, 7, 1000])('finds every member whatever the chunking (%i-byte chunks), strings and escapes included', async (chunk) => {
    expect(await members(doc, chunk)).toEqual([
      { key: 'a', text: '{"x": "}\\"{", "y": [1, {"z": 2}]}' },
      { key: 'bA', text: '12 ' },
      { key: 'c', text: '"s,}"' },
      { key: 'd', text: 'true' },
    ])
  })

  it('refuses a document cut short, trailing data, and non-objects; drops an over-long member by size', async () => {
    expect((await members('{"a": {"x": 1}, "b": {"y"', 4)).at(-1)).toMatch(/^error: the document ends before its object does/)
    expect((await members('{"a": 1} x', 4)).at(-1)).toMatch(/^error: data after the end/)
    expect(await members('[1, 2]', 4)).toEqual([expect.stringMatching(/^error: not a JSON object/)])
    expect(await members('{"a": {"x": 1111111}, "b": {"y": 2}}', 5, 10)).toEqual([{ key: 'a', tooLarge: 14 }, { key: 'b', text: '{"y": 2}' }])
    expect(await members(' {} ', 2)).toEqual([])
  })
})

describe.skipIf(!HAS_SHARED)('the Debian tracker, streamed one package at a time', () => {
  it.each(['vunnel_debian_tracker_sample.json', 'osv.dev_debian_security_tracker_mock.json'])('%s: the same records as a whole parse', async (name) => {
    const file = sharedPath('advisories', 'debian-tracker', name)
    const whole = tempStore()
    const streamed = tempStore()
    try {
      const a = await importFeeds(whole.store, [file])
      // A record limit just below the file's size sends it down the streaming path.
      const b = await importFeeds(streamed.store, [file], { maxRecordBytes: statSync(file).size - 1 })
      expect(b.sources).toEqual(a.sources)
      expect(b.errors).toEqual(a.errors)
      expect(fingerprints(streamed.store)).toEqual(fingerprints(whole.store))
      expect(Object.keys(fingerprints(whole.store)).length).toBeGreaterThan(0)
    } finally {
      await whole.done()
      await streamed.done()
    }
  })

  it('a tracker file cut short: the packages before the cut are imported and the file is reported unreadable', async () => {
    const t = tempStore()
    try {
      const text = readFileSync(sharedPath('advisories', 'debian-tracker', 'vunnel_debian_tracker_sample.json'), 'utf8')
      const cut = join(t.dir, 'cut.json')
      writeFileSync(cut, text.slice(0, Math.floor(text.length * 0.8)))
      const r = await importFeeds(t.store, [cut], { maxRecordBytes: 3000 })
      expect(r.added).toBeGreaterThan(0)
      expect(r.errors.map((e) => e.code)).toContain('ERR_FEED_UNREADABLE')
      expect(r.errors.find((e) => e.code === 'ERR_FEED_UNREADABLE')!.message).toMatch(/truncated or malformed/)
    } finally {
      await t.done()
    }
  })
})
