import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { vigil } from './helpers.js'

noteSharedMissing('vigil db')
const data = mkdtempSync(join(tmpdir(), 'vigil-clidb-'))
afterAll(() => rmSync(data, { recursive: true, force: true }))


describe.skipIf(!HAS_SHARED)('vigil db', () => {
  it('imports, reports counts, and shows status as table and JSON', async () => {
    const imp = await vigil('db', 'import', sharedPath('advisories/alpine-secdb/alpinelinux-alpine-secdb/v3.10'), '--data', data)
    expect(imp.code).toBe(0)
    expect(imp.out).toMatch(/imported 2 file\(s\) \(alpine-secdb [\d,]+\)/)
    const table = await vigil('db', 'status', '--data', data)
    expect(table.code).toBe(0)
    expect(table.out).toMatch(/alpine-secdb\s+[\d,]+/)
    expect(table.out).toMatch(/Alpine:v3\.10\s+[\d,]+\s+[\d,]+/)
    const json = await vigil('db', 'status', '--format', 'json', '--data', data)
    const status = JSON.parse(json.out) as { sources: Record<string, { records: number }>; ecosystems: Record<string, { advisories: number }> }
    expect(status.sources['alpine-secdb']!.records).toBe(status.ecosystems['Alpine:v3.10']!.advisories)
  })

  it('exits 2 for an unreadable path and for usage errors', async () => {
    const missing = await vigil('db', 'import', join(data, 'nope.json'), '--data', data)
    expect(missing.code).toBe(2)
    expect(missing.err).toContain('ERR_FEED_UNREADABLE')
    expect((await vigil('db', 'import', '--data', data)).code).toBe(2)
    expect((await vigil('db', 'status', '--format', 'xml', '--data', data)).code).toBe(2)
    expect((await vigil('db', 'frobnicate')).code).toBe(2)
  })
})
