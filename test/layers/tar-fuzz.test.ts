import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seeded as rng } from '../../bench/reassess-fleet.js'
import { VigilError } from '../../src/errors.js'
import { analyzeLayer } from '../../src/layers/analyze.js'
import { TarReader } from '../../src/layers/tar-reader.js'
import { statusProbe, tempDir, writeBlob } from './fixtures.js'
import { goTar, type GoEntry } from './go-tar-writer.js'

/**
 * Fuzz: truncated, bit-flipped and random input never makes the tar reader throw anything but
 * ERR_LAYER_CORRUPT, never loops, and never holds more than it was asked to collect plus its
 * bounded metadata. VIGIL_FUZZ_SEED replays one seed; a failure names the seed and the case.
 */

const SEED = Number(process.env.VIGIL_FUZZ_SEED ?? 20261208)
const ROUNDS = 400
/** What the harness collects of any one file; the reader itself holds at most 4 MiB of metadata. */
const COLLECT_CAP = 256 * 1024

type Outcome = { ok: true; entries: number } | { ok: false; code: string }

/** Reads `bytes` in chunks of `chunk`; collected bytes are counted, not kept. */
function read(bytes: Buffer, chunk: number): Outcome {
  const reader = new TarReader()
  let entries = 0
  try {
    for (let at = 0; at < bytes.length; at += chunk) {
      reader.push(bytes.subarray(at, at + chunk))
      for (let ev = reader.next(); ev !== null; ev = reader.next()) {
        if (ev.kind === 'entry') {
          entries++
          if (ev.header.type === 'file') reader.collect(Math.min(ev.header.size, COLLECT_CAP))
        }
      }
    }
    reader.end()
    return { ok: true, entries }
  } catch (err) {
    return { ok: false, code: VigilError.is(err) ? err.code : `not a VigilError: ${String(err)}` }
  }
}

/** One archive with every header form the reader knows: ustar split, pax, GNU long names, sparse. */
function corpus(): Buffer {
  const entries: GoEntry[] = [
    { name: 'etc/', kind: 'dir' },
    { name: 'var/lib/dpkg/status', kind: 'file', data: Buffer.from('Package: a\nVersion: 1\n\n'.repeat(40)) },
    { name: 'usr/lib/' + 'p'.repeat(95) + '/' + 'n'.repeat(60), kind: 'file', data: Buffer.from('split') },
    { name: 'opt/ünï/' + 'q'.repeat(150), kind: 'symlink', linkname: '../' + 'l'.repeat(120) },
  ]
  const sparse = oldGnuSparse()
  return Buffer.concat([goTar(entries, 'pax').subarray(0, -1024), goTar(entries, 'gnu').subarray(0, -1024), sparse, Buffer.alloc(1024)])
}

/** An old GNU `S` entry with one extension block (six fragments). */
function oldGnuSparse(): Buffer {
  const h = Buffer.alloc(512)
  h.write('sparse.bin', 0)
  h.write('0000644\0', 100)
  h.write('S', 156)
  h.write('ustar  \0', 257, 'latin1')
  const frag = (block: Buffer, at: number, off: number, len: number) => {
    block.write(off.toString(8).padStart(11, '0') + '\0', at, 'latin1')
    block.write(len.toString(8).padStart(11, '0') + '\0', at + 12, 'latin1')
  }
  for (let i = 0; i < 4; i++) frag(h, 386 + i * 24, i * 4096, 10)
  h[482] = 1
  h.write((6 * 4096).toString(8).padStart(11, '0') + '\0', 483, 'latin1')
  h.write((60).toString(8).padStart(11, '0') + '\0', 124, 'latin1')
  h.fill(32, 148, 156)
  let sum = 0
  for (const x of h) sum += x
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
  const ext = Buffer.alloc(512)
  frag(ext, 0, 4 * 4096, 10)
  frag(ext, 24, 5 * 4096, 10)
  const data = Buffer.alloc(512, 0x41)
  return Buffer.concat([h, ext, data])
}

/** A header block of random fields with a correct checksum, so parsing goes past the checksum. */
function randomHeader(next: () => number): Buffer {
  const b = Buffer.alloc(512)
  for (let i = 0; i < 512; i++) if (next() < 0.5) b[i] = Math.floor(next() * 256)
  const flags = '0125xgLKSD7\0'
  b[156] = flags.charCodeAt(Math.floor(next() * flags.length))
  if (next() < 0.6) b.write(next() < 0.5 ? 'ustar\u000000' : 'ustar  \0', 257, 'latin1')
  if (next() < 0.5) b.write(Math.floor(next() * 5000).toString(8).padStart(11, '0') + '\0', 124, 'latin1')
  b.fill(32, 148, 156)
  let sum = 0
  for (const x of b) sum += x
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
  return b
}

function heapNow(): number {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

describe('TarReader fuzz: truncation, flipped bytes, random bytes', () => {
  const base = corpus()

  it('reads the untouched corpus', () => {
    expect(read(base, 4096)).toEqual({ ok: true, entries: 9 })
  })

  it(`every truncation, bit flip and random header ends in entries or ERR_LAYER_CORRUPT (seed ${SEED})`, () => {
    const next = rng(SEED)
    const before = heapNow()
    let peak = before
    const outcomes = new Map<string, number>()
    const tally = (o: Outcome, what: string) => {
      const key = o.ok ? 'ok' : o.code
      if (!o.ok) expect(o.code, `seed ${SEED}: ${what}`).toBe('ERR_LAYER_CORRUPT')
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
      peak = Math.max(peak, heapNow())
    }
    for (let round = 0; round < ROUNDS; round++) {
      const cut = Math.floor(next() * base.length)
      tally(read(base.subarray(0, cut), 1 + Math.floor(next() * 3000)), `truncated at ${cut}`)

      const flipped = Buffer.from(base)
      const flips = 1 + Math.floor(next() * 8)
      const where: number[] = []
      for (let i = 0; i < flips; i++) {
        const at = Math.floor(next() * flipped.length)
        flipped[at] = Math.floor(next() * 256)
        where.push(at)
      }
      tally(read(flipped, 1 + Math.floor(next() * 3000)), `bytes changed at ${where.join(',')}`)

      const random = Buffer.alloc(512 * (1 + Math.floor(next() * 8)))
      for (let i = 0; i < random.length; i++) random[i] = Math.floor(next() * 256)
      tally(read(random, 512), `random bytes, round ${round}`)

      const headers = Buffer.concat(Array.from({ length: 1 + Math.floor(next() * 6) }, () => (next() < 0.8 ? randomHeader(next) : Buffer.alloc(512, Math.floor(next() * 256)))))
      tally(read(headers, 1 + Math.floor(next() * 700)), `random headers, round ${round}`)
    }
    // Both outcomes occur: the fuzz reaches past the checksum, and damage is caught.
    expect(outcomes.get('ok')).toBeGreaterThan(ROUNDS / 10)
    expect(outcomes.get('ERR_LAYER_CORRUPT')).toBeGreaterThan(ROUNDS / 10)
    expect(peak - before).toBeLessThan(128 * 1024 ** 2)
  })

  it('refuses metadata past its limit before holding it', () => {
    const h = Buffer.alloc(512)
    h.write('././@LongLink', 0)
    h.write('L', 156)
    h.write('ustar  \0', 257, 'latin1')
    h.write((1024 ** 3).toString(8).padStart(11, '0') + '\0', 124, 'latin1')
    h.fill(32, 148, 156)
    let sum = 0
    for (const x of h) sum += x
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
    const before = heapNow()
    expect(read(h, 512)).toEqual({ ok: false, code: 'ERR_LAYER_CORRUPT' })
    expect(heapNow() - before).toBeLessThan(64 * 1024 ** 2)
  })
})

describe('analyzeLayer on truncated and damaged gzip layers', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir())
  })
  afterAll(() => cleanup())

  it(`fails the layer with ERR_LAYER_CORRUPT, never another error (seed ${SEED})`, async () => {
    const next = rng(SEED + 1)
    const gz = gzipSync(corpus())
    for (let round = 0; round < 40; round++) {
      const bytes = Buffer.from(gz.subarray(0, Math.floor(next() * gz.length)))
      if (round % 2 === 1 && bytes.length > 20) {
        const at = 10 + Math.floor(next() * (bytes.length - 10))
        bytes[at] = bytes[at]! ^ 0xff
      }
      const layer = await writeBlob(dir, bytes, 'application/vnd.oci.image.layer.v1.tar+gzip')
      let code = 'resolved'
      try {
        await analyzeLayer(layer, [statusProbe])
      } catch (err) {
        code = VigilError.is(err) ? err.code : `not a VigilError: ${String(err)}`
      }
      // A cut that happens to fall where the gzip member ends cleanly cannot be told from a
      // complete layer; everything else is corrupt.
      expect(['ERR_LAYER_CORRUPT', 'resolved'], `seed ${SEED}, round ${round}, ${bytes.length} bytes`).toContain(code)
    }
  })
})
