import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { CORPUS, hasImage, noteCorpusMissing } from '../image/corpus.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { buildUpstream, type Upstream } from './feed-server.js'
import { vigil } from './helpers.js'

/**
 * A fresh install, as the README has it: a scan with no data is refused with ERR_NO_DATA; after
 * `vigil db update --mirror DIR` (a mirror directory in the upstream layout, built from
 * ../shared/data) the same scan reports findings. debian-go-bins carries Go binaries, which the
 * Go OSV records in the shared data match.
 */
noteSharedMissing('vigil db update, fresh install')
noteCorpusMissing(['debian-go-bins'])
const READY = HAS_SHARED && hasImage('debian-go-bins')


describe.skipIf(!READY)('vigil db update on a fresh install', { timeout: 300_000 }, () => {
  let up: Upstream
  let data: string
  const image = `oci:${join(CORPUS, 'debian-go-bins', 'oci')}`
  const scope = ['--osv-ecosystems', 'Go', '--alpine-branches', 'v3.10,v3.11']
  beforeAll(() => {
    ensureBuilt()
    up = buildUpstream()
    data = mkdtempSync(join(tmpdir(), 'vigil-update-cli-'))
  })
  afterAll(() => {
    up?.done()
    rmSync(data, { recursive: true, force: true })
  })

  it('scan fails with ERR_NO_DATA, db update --mirror DIR fills the store, the same scan reports findings', async () => {
    const empty = await vigil('scan', image, '--data', data, '-f', 'json', '-q')
    expect(empty.code).toBe(2)
    expect(empty.err).toMatch(/ERR_NO_DATA: no vulnerability data for this image's ecosystems \(.*Go.*\).*run vigil db update/)
    expect(empty.out).toBe('')

    // The mirror lacks KEV: reported, the rest imports, exit 3.
    up.remove('kev/sites/default/files/feeds/known_exploited_vulnerabilities.json')
    const update = await vigil('db', 'update', '--mirror', up.root, ...scope, '--data', data)
    expect(update.code).toBe(3)
    expect(update.err).toMatch(/kev failed: ERR_FEED_NOT_FOUND: .*known_exploited_vulnerabilities\.json: not in the mirror/)
    expect(update.out).toMatch(/^osv\/Go\s+updated\s+full\s+[\d,]+/m)
    expect(update.out).toMatch(/^debian\s+updated\s+full/m)
    expect(update.out).toMatch(/^epss\s+updated\s+full\s+40 rows/m)

    const scanned = await vigil('scan', image, '--data', data, '-f', 'json', '-q')
    expect(scanned.code).toBe(0)
    const report = JSON.parse(scanned.out) as { findings: { id: string }[] }
    expect(report.findings.length).toBeGreaterThan(0)
    expect(report.findings.every((f) => f.id.startsWith('GO-'))).toBe(true)

    // An unchanged mirror: nothing changes, every unit says so.
    const again = await vigil('db', 'update', '--mirror', up.root, ...scope, '--data', data, '--format', 'json', '--source', 'osv', '--source', 'debian')
    expect(again.code).toBe(0)
    const rows = (JSON.parse(again.out) as { units: { unit: string; status: string; mode: string }[] }).units
    expect(rows.map((r) => [r.unit, r.status, r.mode])).toEqual([['osv/Go', 'unchanged', 'incremental'], ['debian', 'unchanged', 'not-modified']])

    const status = await vigil('db', 'status', '--data', data, '--format', 'json')
    const sync = (JSON.parse(status.out) as { sync: { unit: string; lastSuccess?: string; stale: boolean; lastError?: { code: string } }[] }).sync
    const byUnit = Object.fromEntries(sync.map((s) => [s.unit, s]))
    expect(byUnit['osv/Go']).toMatchObject({ stale: false })
    expect(byUnit.kev).toMatchObject({ stale: true, lastError: { code: 'ERR_FEED_NOT_FOUND' } })
    expect(byUnit.kev!.lastSuccess).toBeUndefined()
    expect(status.err).toMatch(/warning: kev has never synced; run vigil db update/)
    const table = await vigil('db', 'status', '--data', data)
    expect(table.out).toMatch(/^osv\/Go\s+\d{4}-\d\d-\d\dT\S+\s+\d+ s$/m)
  })

  it('rejects unknown --base names and bad --timeout / --retries', async () => {
    expect((await vigil('db', 'update', '--base', 'nvd=http://x', '--data', data)).err).toMatch(/ERR_USAGE.*--base nvd=http:\/\/x/s)
    expect((await vigil('db', 'update', '--timeout', '0', '--data', data)).code).toBe(2)
    expect((await vigil('db', 'update', '--retries', 'many', '--data', data)).code).toBe(2)
    expect((await vigil('db', 'update', 'somefile', '--data', data)).code).toBe(2)
  })
})
