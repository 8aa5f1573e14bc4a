import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Analyzer } from '../../src/analyzers/types.js'
import { analyzeLayer } from '../../src/layers/analyze.js'
import { statusProbe, tempDir, writeBlob, writeLayer, type EntrySpec } from './fixtures.js'

let dir: string
let cleanup: () => Promise<void>
beforeAll(async () => {
  ;({ dir, cleanup } = await tempDir())
})
afterAll(() => cleanup())

/** Records the sha256 of every file it parses, so a test can check the bytes were read exactly. */
function hashingAnalyzer(name: string, opts: { sniffMagic?: string; match?: (p: string) => boolean } = {}): Analyzer & { seen: Map<string, string> } {
  const seen = new Map<string, string>()
  return {
    name,
    version: 1,
    kind: 'lang',
    seen,
    match: (f) => (opts.match ? opts.match(f.path) : f.path.endsWith('.bin')),
    ...(opts.sniffMagic ? { sniff: (head: Uint8Array) => Buffer.from(head).subarray(0, opts.sniffMagic!.length).toString('latin1') === opts.sniffMagic } : {}),
    parse: (bytes, ctx) => {
      seen.set(ctx.path, createHash('sha256').update(bytes).digest('hex'))
      return { packages: [{ ecosystem: 'Go', name: ctx.path, version: String(bytes.length), purl: '', path: ctx.path, kind: 'lang' }] }
    },
  }
}

function content(seed: number, size: number): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7) & 0xff
  return b
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('analyzeLayer', () => {
  const elf = Buffer.concat([Buffer.from('\x7fELF', 'latin1'), content(1, 300_000)])
  const script = Buffer.concat([Buffer.from('#!/bin/sh\n'), content(2, 10_000)])
  const entries: EntrySpec[] = [
    { name: 'etc/', type: 'directory' },
    { name: 'usr/bin/tool.bin', content: elf },
    { name: 'usr/bin/script.bin', content: script },
    { name: 'var/lib/dpkg/status', content: 'bash=5.2\nzlib=1.2\n' },
    { name: 'usr/share/big.dat', zeros: 5 * 1024 * 1024 },
  ]

  it.each(['gzip', 'zstd', 'none'] as const)('gives the same report for a %s layer, reading matched files exactly', async (compression) => {
    const layer = await writeLayer(dir, entries, compression)
    const sniffing = hashingAnalyzer('sniffing', { sniffMagic: '\x7fELF' })
    const plain = hashingAnalyzer('plain')
    const report = await analyzeLayer(layer, [sniffing, plain, statusProbe])
    expect(report.stats.compression).toBe(compression)
    expect(report.stats.entries).toBe(5)
    expect(report.stats.bytesIn).toBe(layer.bytes)
    expect(report.stats.bytesOut).toBeGreaterThan(5 * 1024 * 1024)
    // The sniffing analyzer saw the ELF only, whole; the plain one saw both files.
    expect([...sniffing.seen]).toEqual([['usr/bin/tool.bin', sha(elf)]])
    expect(Object.fromEntries(plain.seen)).toEqual({ 'usr/bin/tool.bin': sha(elf), 'usr/bin/script.bin': sha(script) })
    expect(report.files.map((f) => `${f.analyzer}:${f.path}`)).toEqual([
      'sniffing:usr/bin/tool.bin',
      'plain:usr/bin/tool.bin',
      'plain:usr/bin/script.bin',
      'status-probe:var/lib/dpkg/status',
    ])
    expect(report.files.at(-1)!.result.packages!.map((p) => p.name)).toEqual(['bash', 'zlib'])
  })

  it('skips a file when every matching analyzer’s sniff says no, without an error', async () => {
    const layer = await writeLayer(dir, [{ name: 'a.bin', content: script }], 'gzip')
    const sniffing = hashingAnalyzer('sniffing', { sniffMagic: '\x7fELF' })
    const report = await analyzeLayer(layer, [sniffing])
    expect(report.files).toEqual([])
    expect(report.errors).toEqual([])
    expect(report.stats.matched).toBe(0)
  })

  it('decompresses a gzip blob that its media type calls a plain tar (docker-archive writers do this)', async () => {
    const layer = await writeLayer(dir, [{ name: 'var/lib/dpkg/status', content: 'a=1\n' }], 'gzip')
    const report = await analyzeLayer({ ...layer, mediaType: 'application/vnd.docker.image.rootfs.diff.tar' }, [statusProbe])
    expect(report.stats.compression).toBe('gzip')
    expect(report.files).toHaveLength(1)
  })

  it('takes a zero-byte blob and an empty tar.gz as empty layers', async () => {
    const empty = await writeBlob(dir, Buffer.alloc(0), 'application/vnd.oci.image.layer.v1.tar')
    expect((await analyzeLayer(empty, [])).stats).toMatchObject({ entries: 0, bytesIn: 0, compression: 'none' })
    const layer = await writeLayer(dir, [], 'gzip')
    const report = await analyzeLayer(layer, [])
    expect(report.stats.entries).toBe(0)
    expect(await readFile(layer.path)).toHaveLength(layer.bytes)
  })
})
