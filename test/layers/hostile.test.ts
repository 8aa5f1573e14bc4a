import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeLayer } from '../../src/layers/analyze.js'
import { LayerPool } from '../../src/layers/pool.js'
import { VigilError } from '../../src/errors.js'
import { ensureBuilt } from './ensure-built.js'
import { statusProbe, tempDir, writeBlob, writeLayer } from './fixtures.js'

const GiB = 1024 ** 3
let dir: string
let cleanup: () => Promise<void>

beforeAll(async () => {
  ;({ dir, cleanup } = await tempDir())
})
afterAll(() => cleanup())

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    expect(VigilError.is(err)).toBe(true)
    return (err as VigilError).code
  }
  return 'resolved'
}

/** Peak RSS growth while `run` executes, sampled every 20 ms. */
async function peakRssGrowth<T>(run: () => Promise<T>): Promise<{ value: T | undefined; error: unknown; growth: number }> {
  const base = process.memoryUsage.rss()
  let peak = base
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
  try {
    return { value: await run(), error: undefined, growth: Math.max(peak, process.memoryUsage.rss()) - base }
  } catch (error) {
    return { value: undefined, error, growth: Math.max(peak, process.memoryUsage.rss()) - base }
  } finally {
    clearInterval(timer)
  }
}

describe('hostile tar paths', () => {
  it('skips entries that climb out of the root and re-roots absolute ones', async () => {
    const layer = await writeLayer(dir, [
      { name: '../../etc/cron.d/evil', content: 'x' },
      { name: 'usr/../../../var/lib/dpkg/status', content: 'evil=1\n' },
      { name: '/var/lib/dpkg/status', content: 'bash=5.2\n' },
      { name: './var/lib/./dpkg//status.d/zlib', content: 'zlib=1.2\n' },
      { name: 'a/../etc/x', content: 'fine' },
      { name: 'hl', type: 'link', linkname: '../../etc/shadow' },
    ], 'gzip')
    const report = await analyzeLayer(layer, [statusProbe])
    expect(report.files.map((f) => [f.path, f.result.packages?.[0]?.name])).toEqual([
      ['var/lib/dpkg/status', 'bash'],
      ['var/lib/dpkg/status.d/zlib', 'zlib'],
    ])
    expect(report.errors.map((e) => e.code)).toEqual(['ERR_PATH_UNSAFE', 'ERR_PATH_UNSAFE', 'ERR_PATH_UNSAFE'])
    expect(report.errors[0]!.message).toContain('../../etc/cron.d/evil')
    expect(report.stats.entries).toBe(6)
  })

  it('never follows symlinks: loops and links out of the root are recorded, not resolved', async () => {
    const layer = await writeLayer(dir, [
      { name: 'loop/a', type: 'symlink', linkname: 'b' },
      { name: 'loop/b', type: 'symlink', linkname: 'a' },
      { name: 'self', type: 'symlink', linkname: 'self' },
      { name: 'var/lib/dpkg/status', type: 'symlink', linkname: '../../../../../etc/shadow' },
      { name: 'var/lib/dpkg/status.d/libc6', content: 'libc6=2.36\n' },
    ], 'none')
    const report = await analyzeLayer(layer, [statusProbe])
    expect(report.shadows).toEqual(['var/lib/dpkg/status'])
    expect(report.files.map((f) => f.path)).toEqual(['var/lib/dpkg/status.d/libc6'])
    expect(report.errors).toEqual([])
  })

  it('parses a hard link to a matched file from the bytes already read', async () => {
    const layer = await writeLayer(dir, [
      { name: 'var/lib/dpkg/status.d/a', content: 'a=1\n' },
      { name: 'var/lib/dpkg/status.d/b', type: 'link', linkname: 'var/lib/dpkg/status.d/a' },
    ], 'gzip')
    const report = await analyzeLayer(layer, [statusProbe])
    expect(report.files.map((f) => [f.path, f.result.packages?.[0]?.name])).toEqual([
      ['var/lib/dpkg/status.d/a', 'a'],
      ['var/lib/dpkg/status.d/b', 'a'],
    ])
  })

  it('names a hard link at a matched path whose target was never read (ERR_LINK_UNREAD), never silently', async () => {
    // A jar-shaped name linked to bytes stored under a name no analyzer reads.
    const layer = await writeLayer(dir, [
      { name: 'tmp/blob', content: 'hidden=1\n' },
      { name: 'var/lib/dpkg/status.d/hidden', type: 'link', linkname: 'tmp/blob' },
    ], 'gzip')
    const report = await analyzeLayer(layer, [statusProbe])
    expect(report.files).toEqual([])
    expect(report.shadows).toEqual(['var/lib/dpkg/status.d/hidden'])
    expect(report.errors).toMatchObject([{ code: 'ERR_LINK_UNREAD', details: { path: 'var/lib/dpkg/status.d/hidden', target: 'tmp/blob' } }])
  })

  it('skips a matched file over its read limit with ERR_FILE_TOO_LARGE and keeps going', async () => {
    const layer = await writeLayer(dir, [
      { name: 'var/lib/dpkg/status', zeros: 3 * 1024 * 1024 },
      { name: 'var/lib/dpkg/status.d/ok', content: 'ok=1\n' },
    ], 'gzip')
    const report = await analyzeLayer(layer, [statusProbe])
    expect(report.errors.map((e) => e.code)).toEqual(['ERR_FILE_TOO_LARGE'])
    expect(report.errors[0]!.details).toMatchObject({ path: 'var/lib/dpkg/status', size: 3 * 1024 * 1024, limit: 1024 * 1024 })
    expect(report.files.map((f) => f.path)).toEqual(['var/lib/dpkg/status.d/ok'])
  })

  it('records an analyzer that throws and still reports the rest of the layer', async () => {
    const broken = { ...statusProbe, name: 'broken', parse: () => { throw new VigilError('ERR_PKGDB_CORRUPT', 'bad stanza') } }
    const layer = await writeLayer(dir, [{ name: 'var/lib/dpkg/status', content: 'x=1\n' }], 'gzip')
    const report = await analyzeLayer(layer, [broken, statusProbe])
    expect(report.errors.map((e) => [e.code, e.details?.analyzer])).toEqual([['ERR_PKGDB_CORRUPT', 'broken']])
    expect(report.files.map((f) => f.analyzer)).toEqual(['status-probe'])
  })
})

describe('hostile compression and blobs', () => {
  it.each(['gzip', 'zstd'] as const)('stops a 1 GiB %s decompression bomb with ERR_LAYER_TOO_LARGE in bounded memory', async (compression) => {
    const layer = await writeLayer(dir, [{ name: 'zeros', zeros: GiB }], compression)
    expect(layer.bytes).toBeLessThan(GiB / 200) // it really is a bomb
    const { error, growth } = await peakRssGrowth(() => analyzeLayer(layer, [statusProbe]))
    expect(VigilError.is(error) && error.code).toBe('ERR_LAYER_TOO_LARGE')
    expect((error as VigilError).message).toMatch(/decompression bomb/)
    expect(growth).toBeLessThan(200 * 1024 ** 2)
  })

  it('enforces the absolute expansion limit', async () => {
    const layer = await writeLayer(dir, [{ name: 'big', zeros: 8 * 1024 * 1024 }], 'gzip')
    expect(await codeOf(analyzeLayer(layer, [], { maxExpandedBytes: 4 * 1024 * 1024 }))).toBe('ERR_LAYER_TOO_LARGE')
  })

  it.each(['gzip', 'zstd'] as const)('reports a truncated %s layer as ERR_LAYER_CORRUPT', async (compression) => {
    const whole = await writeLayer(dir, [{ name: 'var/lib/dpkg/status', content: 'a=1\n'.repeat(50_000) }, { name: 'f', zeros: 200_000 }], compression)
    const bytes = await readFile(whole.path)
    const cut = await writeBlob(dir, bytes.subarray(0, Math.floor(bytes.length / 2)), whole.mediaType)
    expect(await codeOf(analyzeLayer(cut, [statusProbe]))).toBe('ERR_LAYER_CORRUPT')
  })

  it('reports a blob whose bytes do not match its digest as ERR_DIGEST_MISMATCH', async () => {
    const layer = await writeLayer(dir, [{ name: 'var/lib/dpkg/status', content: 'a=1\n' }], 'gzip')
    const lying = { ...layer, digest: `sha256:${'0'.repeat(64)}` as typeof layer.digest }
    expect(await codeOf(analyzeLayer(lying, [statusProbe]))).toBe('ERR_DIGEST_MISMATCH')
  })

  it('reports garbage and mislabelled blobs as ERR_LAYER_CORRUPT', async () => {
    const garbage = await writeBlob(dir, Buffer.from('this is not a tar archive at all'.repeat(40)), 'application/vnd.oci.image.layer.v1.tar')
    expect(await codeOf(analyzeLayer(garbage, []))).toBe('ERR_LAYER_CORRUPT')
    const plain = await writeLayer(dir, [{ name: 'a', content: 'a' }], 'none')
    expect(await codeOf(analyzeLayer({ ...plain, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }, []))).toBe('ERR_LAYER_CORRUPT')
  })

  it('reports a missing blob file as ERR_TARGET_NOT_FOUND', async () => {
    const layer = await writeLayer(dir, [{ name: 'a', content: 'a' }], 'gzip')
    expect(await codeOf(analyzeLayer({ ...layer, locator: { kind: 'file', path: `${layer.path}.gone` } }, []))).toBe('ERR_TARGET_NOT_FOUND')
  })
})

describe('hostile layers across the worker boundary', () => {
  let pool: LayerPool
  beforeAll(() => {
    ensureBuilt()
    // A small heap cap: a worker that buffered the bomb would die instead of passing.
    pool = new LayerPool({ threads: 1, maxOldGenerationSizeMb: 96 })
  })
  afterAll(() => pool?.close())

  it('a bomb, a bad digest and a truncated layer come back as coded VigilErrors; the pool keeps serving', async () => {
    const bomb = await writeLayer(dir, [{ name: 'zeros', zeros: GiB }], 'gzip')
    const good = await writeLayer(dir, [{ name: 'etc/hostname', content: 'x' }, { name: 'opt/.wh.gone' }], 'gzip')
    const bytes = await readFile(good.path)
    const cut = await writeBlob(dir, bytes.subarray(0, bytes.length - 12), good.mediaType)
    expect(await codeOf(pool.analyze(bomb))).toBe('ERR_LAYER_TOO_LARGE')
    expect(await codeOf(pool.analyze({ ...good, digest: `sha256:${'1'.repeat(64)}` as typeof good.digest }))).toBe('ERR_DIGEST_MISMATCH')
    expect(await codeOf(pool.analyze(cut))).toBe('ERR_LAYER_CORRUPT')
    const report = await pool.analyze(good)
    expect(report.whiteouts).toEqual(['opt/gone'])
    expect(report.stats.entries).toBe(2)
  })
})
