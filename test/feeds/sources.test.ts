import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_OSV_ECOSYSTEMS, FEED_SOURCES, selectUnits } from '../../src/feeds/sources/index.js'
import { locate, parseListing, syncFeeds } from '../../src/feeds/sync.js'
import { parseRetryAfter } from '../../src/feeds/fetch.js'
import { LANGUAGE_PURL_TYPES } from '../../src/sbom/ecosystems.js'
import { osvEcosystem } from '../../src/sbom/finalize.js'
import { HAS_SHARED, ROOT, noteSharedMissing } from '../helpers/shared.js'
import { buildUpstream, type Upstream } from './feed-server.js'
import { tempStore } from './helpers.js'

noteSharedMissing('feed source conformance')
const FORMATS = new Set(['osv-zip', 'debian-tracker', 'alpine-secdb', 'epss-csv', 'kev-json'])

describe('the feed source registry: every entry', () => {
  it('has a unique name, an official https base, a schedule, a staleness threshold and its change detection', () => {
    expect(new Set(FEED_SOURCES.map((s) => s.name)).size).toBe(FEED_SOURCES.length)
    for (const s of FEED_SOURCES) {
      expect(s.name, s.name).toMatch(/^[a-z][a-z0-9-]*$/)
      expect(new URL(s.defaultBase).protocol, s.name).toBe('https:')
      expect(s.intervalMs, s.name).toBeGreaterThanOrEqual(15 * 60_000)
      expect(s.staleAfterMs, s.name).toBeGreaterThan(s.intervalMs)
      expect(s.changeDetection.length, s.name).toBeGreaterThan(10)
    }
  })

  it('names units under its own name, with relative paths, a known format and a size cap', () => {
    for (const s of FEED_SOURCES) {
      const units = s.units({})
      expect(units.length, s.name).toBeGreaterThan(0)
      expect(new Set(units.map((u) => u.id)).size, s.name).toBe(units.length)
      for (const u of units) {
        expect(u.source).toBe(s.name)
        expect(u.id === s.name || u.id.startsWith(`${s.name}/`), u.id).toBe(true)
        expect(u.path.startsWith('/') || u.path.includes('..'), u.id).toBe(false)
        expect(FORMATS.has(u.format), u.id).toBe(true)
        expect(u.maxBytes, u.id).toBeGreaterThanOrEqual(64 * 1024 * 1024)
      }
    }
  })

  it('lives at BASE/<source name>/<upstream path> on a mirror, URL or directory, and at <official base>/<path> otherwise', () => {
    for (const s of FEED_SOURCES) {
      for (const u of s.units({})) {
        const encoded = u.path.split('/').map(encodeURIComponent).join('/')
        expect(locate(u, u.path, { mirror: 'https://mirror.example/feeds/' })).toEqual({ kind: 'http', url: `https://mirror.example/feeds/${s.name}/${encoded}` })
        expect(locate(u, u.path, { mirror: '/srv/mirror' })).toEqual({ kind: 'file', path: join('/srv/mirror', s.name, ...u.path.split('/')) })
        expect(locate(u, u.path, {})).toEqual({ kind: 'http', url: `${s.defaultBase}/${encoded}` })
      }
    }
  })

  it('is documented in docs/feeds.md with its name and official URL', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'feeds.md'), 'utf8')
    for (const s of FEED_SOURCES) {
      expect(doc, s.name).toContain(`\`${s.name}\``)
      expect(doc, s.name).toContain(s.defaultBase)
    }
  })

  it('OSV covers every ecosystem the inventory produces, except the two synced from their own sources', () => {
    const produced = new Set<string>([...Object.values(LANGUAGE_PURL_TYPES), 'Pub', 'Hex', 'ConanCenter', 'SwiftURL'])
    for (const family of ['ubuntu', 'rhel', 'centos', 'almalinux', 'rocky', 'sles', 'opensuse-leap', 'wolfi', 'chainguard', 'photon']) {
      produced.add(osvEcosystem(family, '1.2').split(':')[0]!)
    }
    for (const eco of produced) expect(DEFAULT_OSV_ECOSYSTEMS, eco).toContain(eco)
    expect(DEFAULT_OSV_ECOSYSTEMS).not.toContain('Debian')
    expect(DEFAULT_OSV_ECOSYSTEMS).not.toContain('Alpine')
  })

  it('selects by source name, unit id or id prefix, and names selectors that match nothing', () => {
    const opts = { osvEcosystems: ['Go', 'PyPI'], alpineBranches: ['v3.19', 'v3.20'] }
    expect(selectUnits(['osv'], opts).units.map((u) => u.id)).toEqual(['osv/Go', 'osv/PyPI'])
    expect(selectUnits(['alpine/v3.19', 'kev'], opts).units.map((u) => u.id)).toEqual(['alpine/v3.19/main', 'alpine/v3.19/community', 'kev'])
    expect(selectUnits(['nvd', 'osv/npm'], opts).unknown).toEqual(['nvd', 'osv/npm'])
  })
})

describe('the OSV listing and Retry-After', () => {
  it('reads `<modified>,<id>` rows, drops an ecosystem prefix, keeps the newest per id, refuses anything else', () => {
    const rows = parseListing('2024-08-15T00:00:00Z,PyPI/PYSEC-2021-123\n2024-08-14T10:00:00.123456Z,GHSA-aaaa-bbbb-cccc\n2024-08-01T00:00:00Z,PYSEC-2021-123\n\n', 'x')
    expect([...rows]).toEqual([['PYSEC-2021-123', Date.parse('2024-08-15T00:00:00Z')], ['GHSA-aaaa-bbbb-cccc', Date.parse('2024-08-14T10:00:00.123Z')]])
    expect(() => parseListing('<html>not found</html>', 'x')).toThrow(expect.objectContaining({ code: 'ERR_FEED_CORRUPT' }))
  })

  it('Retry-After is seconds or an HTTP date', () => {
    expect(parseRetryAfter('120')).toBe(120_000)
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000)
    expect(parseRetryAfter('soon')).toBeUndefined()
  })
})

describe.skipIf(!HAS_SHARED)('every registry entry syncs from a mirror directory built from ../shared/data', { timeout: 300_000 }, () => {
  let up: Upstream
  beforeAll(() => {
    up = buildUpstream()
  })
  afterAll(() => up?.done())

  it.each(FEED_SOURCES.map((s) => s.name))('%s', async (name) => {
    const t = tempStore()
    try {
      const report = await syncFeeds(t.store, { mirror: up.root, selectors: [name], osvEcosystems: ['Go'], alpineBranches: ['v3.10', 'v3.11'] })
      expect(report.units.length).toBeGreaterThan(0)
      for (const u of report.units) {
        expect(u.error, u.unit).toBeUndefined()
        expect(u.status, u.unit).toBe('updated')
        expect(u.added + u.exploit, u.unit).toBeGreaterThan(0)
      }
      const again = await syncFeeds(t.store, { mirror: up.root, selectors: [name], osvEcosystems: ['Go'], alpineBranches: ['v3.10', 'v3.11'] })
      for (const u of again.units) expect(u.status, u.unit).toBe('unchanged')
    } finally {
      await t.done()
    }
  })
})
