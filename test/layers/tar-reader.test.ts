import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { VigilError } from '../../src/errors.js'
import { TarReader, parsePax, readNumber, type TarEntryType } from '../../src/layers/tar-reader.js'
import { tarStream, type EntrySpec } from './fixtures.js'

interface Seen {
  name: string
  type: TarEntryType
  size: number
  linkname: string
  body?: string
}

/** Feeds `chunks` to a reader, collecting every regular file whole; returns what it saw. */
function readTar(chunks: Buffer[], collect = true): Seen[] {
  const reader = new TarReader()
  const seen: Seen[] = []
  const drain = () => {
    for (let ev = reader.next(); ev !== null; ev = reader.next()) {
      if (ev.kind === 'entry') {
        const h = ev.header
        seen.push({ name: h.name, type: h.type, size: h.size, linkname: h.linkname })
        if (collect && h.type === 'file') reader.collect(h.size)
      } else {
        seen[seen.length - 1]!.body = ev.bytes.toString('latin1')
      }
    }
  }
  for (const c of chunks) {
    reader.push(c)
    drain()
  }
  reader.end()
  return seen
}

async function packed(entries: EntrySpec[]): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of tarStream(entries) as AsyncIterable<Buffer>) parts.push(c)
  return Buffer.concat(parts)
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return VigilError.is(err) ? err.code : `not a VigilError: ${String(err)}`
  }
  return undefined
}

/** One raw 512-byte header, for the formats tar-stream's pack does not write. */
function header(o: { name: string; flag: string; size?: number | Buffer; linkname?: string; gnu?: boolean; prefix?: string }): Buffer {
  const b = Buffer.alloc(512)
  b.write(o.name, 0, 100, 'utf8')
  b.write('0000644\0', 100)
  b.write('0000000\0', 108)
  b.write('0000000\0', 116)
  if (Buffer.isBuffer(o.size)) o.size.copy(b, 124)
  else b.write(`${(o.size ?? 0).toString(8).padStart(11, '0')}\0`, 124)
  b.write('00000000000\0', 136)
  b.write(o.flag, 156)
  if (o.linkname) b.write(o.linkname, 157, 100, 'utf8')
  b.write(o.gnu ? 'ustar  \0' : 'ustar\u000000', 257, 'latin1')
  if (o.prefix) b.write(o.prefix, 345, 155)
  b.fill(32, 148, 156)
  let sum = 0
  for (const x of b) sum += x
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return b
}

function body(content: string | Buffer): Buffer {
  const bytes = Buffer.from(content)
  return Buffer.concat([bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)])
}

function paxRecord(key: string, value: string): string {
  const text = ` ${key}=${value}\n`
  const bytes = Buffer.byteLength(text)
  let len = bytes + 1
  while (String(len).length + bytes > len) len++
  return `${len}${text}`
}

const END = Buffer.alloc(1024)

describe('TarReader on tar-stream archives', () => {
  const longDir = 'usr/lib/' + 'deep/'.repeat(30)
  const entries: EntrySpec[] = [
    { name: 'etc/', type: 'directory' },
    { name: 'empty', content: '' },
    { name: 'one', content: 'x' },
    { name: 'block', content: 'b'.repeat(512) },
    { name: 'block-plus', content: 'c'.repeat(513) },
    { name: `${longDir}package.json`, content: '{"name":"deep"}' },
    { name: 'usr/share/dóc/ünïcode.txt', content: 'pax path' },
    { name: 'lib/link', type: 'symlink', linkname: '../one' },
    { name: 'hard', type: 'link', linkname: 'one' },
    { name: 'var/lib/dpkg/status', content: 'Package: a\n'.repeat(300) },
  ]
  const expected: Seen[] = [
    { name: 'etc', type: 'directory', size: 0, linkname: '' },
    { name: 'empty', type: 'file', size: 0, linkname: '', body: '' },
    { name: 'one', type: 'file', size: 1, linkname: '', body: 'x' },
    { name: 'block', type: 'file', size: 512, linkname: '', body: 'b'.repeat(512) },
    { name: 'block-plus', type: 'file', size: 513, linkname: '', body: 'c'.repeat(513) },
    { name: `${longDir}package.json`, type: 'file', size: 15, linkname: '', body: '{"name":"deep"}' },
    { name: 'usr/share/dóc/ünïcode.txt', type: 'file', size: 8, linkname: '', body: 'pax path' },
    { name: 'lib/link', type: 'symlink', size: 0, linkname: '../one' },
    { name: 'hard', type: 'link', size: 0, linkname: 'one' },
    { name: 'var/lib/dpkg/status', type: 'file', size: 3300, linkname: '', body: 'Package: a\n'.repeat(300) },
  ]

  it('reads names (ustar prefix and pax), types, sizes, link targets and bodies', async () => {
    const tar = await packed(entries)
    const seen = readTar([tar])
    // tar-stream's pack writes a trailing slash only for the directory; the reader keeps names raw.
    expect(seen.map((s) => ({ ...s, name: s.name.replace(/\/$/, '') }))).toEqual(expected)
  })

  it('gives the same result however the input is split, at every offset and byte by byte', async () => {
    const tar = await packed(entries)
    const whole = readTar([tar])
    for (let cut = 0; cut <= tar.length; cut += 1) {
      expect(readTar([tar.subarray(0, cut), tar.subarray(cut)])).toEqual(whole)
    }
    const bytes = Array.from({ length: tar.length }, (_, i) => tar.subarray(i, i + 1))
    expect(readTar(bytes)).toEqual(whole)
    expect(readTar(bytes, false).map((s) => s.name)).toEqual(whole.map((s) => s.name))
  })

  it('hands out the head first and the whole body on a second collect', async () => {
    const tar = await packed([{ name: 'bin/app', content: Buffer.alloc(10_000, 7) }, { name: 'next', content: 'n' }])
    const reader = new TarReader()
    reader.push(tar)
    const entry = reader.next()
    expect(entry?.kind).toBe('entry')
    reader.collect(4096)
    const head = reader.next()
    expect(head?.kind === 'body' && head.bytes.length).toBe(4096)
    reader.collect(10_000)
    const all = reader.next()
    expect(all?.kind === 'body' && all.bytes.equals(Buffer.alloc(10_000, 7))).toBe(true)
    const next = reader.next()
    expect(next?.kind === 'entry' && next.header.name).toBe('next')
    expect(reader.next()).toBeNull()
    reader.end()
  })
})

describe('TarReader on hand-made GNU and pax headers', () => {
  it('applies GNU long names and long link targets', () => {
    const name = 'opt/' + 'n'.repeat(150) + '/METADATA'
    const link = 'opt/' + 'l'.repeat(140)
    const tar = Buffer.concat([
      header({ name: '././@LongLink', flag: 'L', size: name.length + 1, gnu: true }),
      body(name + '\0'),
      header({ name: '././@LongLink', flag: 'K', size: link.length, gnu: true }),
      body(link),
      header({ name: name.slice(0, 99), flag: '1', linkname: link.slice(0, 99), gnu: true }),
      header({ name: 'short', flag: '0', size: 3, gnu: true, prefix: 'ignored-in-gnu' }),
      body('abc'),
      END,
    ])
    expect(readTar([tar])).toEqual([
      { name, type: 'link', size: 0, linkname: link },
      { name: 'short', type: 'file', size: 3, linkname: '', body: 'abc' },
    ])
  })

  it('reads a long name whose 100-byte name field ends in `/` as the file it is (GNU tar, tarfile)', () => {
    // GNU tar and Python's tarfile cut the name field at 100 bytes; here byte 100 is a `/`.
    const name = 'usr/lib/' + 'd'.repeat(91) + '/python3.11/site-packages/pkg/METADATA'
    expect(name[99]).toBe('/')
    const tar = Buffer.concat([
      header({ name: '././@LongLink', flag: 'L', size: name.length + 1, gnu: true }),
      body(name + '\0'),
      header({ name: name.slice(0, 100), flag: '0', size: 5, gnu: true }),
      body('hello'),
      header({ name: 'next', flag: '0', size: 1, gnu: true }),
      body('n'),
      // A typeflag-NUL entry is a directory only when its full name ends in `/`.
      header({ name: '././@LongLink', flag: 'L', size: name.length + 1, gnu: true }),
      body(name + '\0'),
      header({ name: name.slice(0, 100), flag: '\0', size: 2, gnu: true }),
      body('v7'),
      END,
    ])
    expect(readTar([tar])).toEqual([
      { name, type: 'file', size: 5, linkname: '', body: 'hello' },
      { name: 'next', type: 'file', size: 1, linkname: '', body: 'n' },
      { name, type: 'file', size: 2, linkname: '', body: 'v7' },
    ])
  })

  it('reads v7 headers (no magic) and signed-byte checksums, and stops at the end-of-archive marker', () => {
    const v7 = header({ name: 'v7-file', flag: '\0', size: 3 })
    v7.fill(0, 257, 265)
    const withSigned = header({ name: 'caf\u00e9', flag: '0', size: 1 })
    // Recompute the checksum as old tars did, summing bytes as signed chars.
    for (const h of [v7, withSigned]) {
      h.fill(32, 148, 156)
      let sum = 0
      for (const x of h) sum += h === withSigned && x > 127 ? x - 256 : x
      h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
    }
    const tar = Buffer.concat([v7, body('abc'), withSigned, body('z'), END, Buffer.from('trailing bytes after the end marker are not entries')])
    expect(readTar([tar])).toEqual([
      { name: 'v7-file', type: 'file', size: 3, linkname: '', body: 'abc' },
      { name: 'café', type: 'file', size: 1, linkname: '', body: 'z' },
    ])
  })

  it('applies pax path, linkpath and size, and merges pax globals into a later pax header', () => {
    const pax = paxRecord('path', 'usr/lib/python3/ünï.py') + paxRecord('size', '5') + paxRecord('mtime', '1.5')
    const global = paxRecord('linkpath', 'from-global') + paxRecord('comment', 'x')
    const tar = Buffer.concat([
      header({ name: 'pax_global_header', flag: 'g', size: Buffer.byteLength(global) }),
      body(global),
      header({ name: 'PaxHeaders/x', flag: 'x', size: Buffer.byteLength(pax) }),
      body(pax),
      // The ustar size says 0; the pax size (5) wins and the body is read as five bytes.
      header({ name: 'truncated-name', flag: '0', size: 0 }),
      body('hello'),
      header({ name: 'plain', flag: '0', size: 2, prefix: 'usr/local' }),
      body('ok'),
      END,
    ])
    expect(readTar([tar])).toEqual([
      // The global linkpath reaches the entry, but a link target means nothing on a regular file.
      { name: 'usr/lib/python3/ünï.py', type: 'file', size: 5, linkname: '', body: 'hello' },
      { name: 'usr/local/plain', type: 'file', size: 2, linkname: '', body: 'ok' },
    ])
  })

  it('reads base-256 sizes', () => {
    const size = Buffer.alloc(12)
    size[0] = 0x80
    size.writeUInt32BE(700, 8)
    const tar = Buffer.concat([header({ name: 'big-ish', flag: '0', size, gnu: true }), body('z'.repeat(700)), END])
    expect(readTar([tar])).toEqual([{ name: 'big-ish', type: 'file', size: 700, linkname: '', body: 'z'.repeat(700) }])
    expect(readNumber(Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), 0, 12)).toBe(2 ** 32)
    // A negative (0xff) base-256 size can only be corrupt.
    const negative = Buffer.alloc(12, 0xff)
    expect(codeOf(() => readTar([header({ name: 'neg', flag: '0', size: negative }), END]))).toBe('ERR_LAYER_CORRUPT')
  })

  it('stops at a malformed pax record like tar-stream does', () => {
    expect(parsePax(Buffer.from(paxRecord('path', 'a') + 'garbage'))).toEqual({ path: 'a' })
  })
})

describe('TarReader on damaged input', () => {
  it('rejects a header with a bad checksum as ERR_LAYER_CORRUPT', async () => {
    const tar = await packed([{ name: 'a', content: 'x' }, { name: 'b', content: 'y' }])
    const bad = Buffer.from(tar)
    bad.writeUInt8(bad.readUInt8(1024 + 3) ^ 0x20, 1024 + 3) // second header's name
    expect(codeOf(() => readTar([bad]))).toBe('ERR_LAYER_CORRUPT')
    expect(codeOf(() => readTar([Buffer.from('not a tar at all'.repeat(64))]))).toBe('ERR_LAYER_CORRUPT')
  })

  it('rejects input that ends inside a header, a body or a pax header', async () => {
    const tar = await packed([{ name: 'a', content: 'x'.repeat(1000) }])
    expect(codeOf(() => readTar([tar.subarray(0, 300)]))).toBe('ERR_LAYER_CORRUPT')
    expect(codeOf(() => readTar([tar.subarray(0, 512 + 700)]))).toBe('ERR_LAYER_CORRUPT')
    expect(codeOf(() => readTar([tar.subarray(0, 512 + 700)], false))).toBe('ERR_LAYER_CORRUPT')
    const pax = paxRecord('path', 'p'.repeat(200))
    expect(codeOf(() => readTar([header({ name: 'x', flag: 'x', size: pax.length }), Buffer.from(pax.slice(0, 50))]))).toBe('ERR_LAYER_CORRUPT')
    // Ending exactly at an entry boundary (no end-of-archive blocks) is accepted, as tar-stream does.
    expect(readTar([tar.subarray(0, 512 + 1024)]).map((s) => s.size)).toEqual([1000])
  })

  it('reads a whole archive pushed from a stream of odd-sized chunks', async () => {
    const tar = await packed([{ name: 'f1', content: 'q'.repeat(3000) }, { name: 'f2', content: 'r'.repeat(77) }])
    const chunks: Buffer[] = []
    for (let at = 0, size = 1; at < tar.length; at += size, size = (size * 7) % 1500 + 1) chunks.push(tar.subarray(at, at + size))
    const fromStream: Buffer[] = []
    for await (const c of Readable.from(chunks)) fromStream.push(c as Buffer)
    expect(readTar(fromStream).map((s) => [s.name, s.body?.length])).toEqual([['f1', 3000], ['f2', 77]])
  })
})

describe('TarReader on archives written by GNU tar', () => {
  it.each(['gnu', 'pax', 'ustar'] as const)('reads --format=%s with long paths, links and an empty file', async (format) => {
    const { execFileSync } = await import('node:child_process')
    const { mkdtemp, mkdir, writeFile, symlink, link, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const root = await mkdtemp(join(tmpdir(), 'vigil-tar-cli-'))
    try {
      // ustar caps names at 100 bytes + a 155-byte prefix, so keep the long one within that there.
      const deep = format === 'ustar' ? 'usr/lib/node_modules/' + 'd'.repeat(90) : 'usr/lib/node_modules/' + 'deep-segment/'.repeat(12) + 'pkg'
      await mkdir(join(root, deep), { recursive: true })
      await writeFile(join(root, deep, 'package.json'), '{"name":"pkg","version":"1.0.0"}')
      await writeFile(join(root, 'empty'), '')
      // A link target over 100 bytes needs GNU `K` or pax `linkpath`; ustar cannot store one.
      const target = format === 'ustar' ? 'empty' : `${deep}/package.json`
      await symlink(target, join(root, 'sym'))
      await link(join(root, 'empty'), join(root, 'hard'))
      const tar = execFileSync('tar', [`--format=${format}`, '--sort=name', '-C', root, '-cf', '-', 'usr', 'empty', 'hard', 'sym'], { maxBuffer: 1 << 24 })
      const seen = readTar([tar])
      const byName = new Map(seen.map((s) => [s.name.replace(/\/$/, ''), s]))
      expect(byName.get(`${deep}/package.json`)).toMatchObject({ type: 'file', size: 32, body: '{"name":"pkg","version":"1.0.0"}' })
      expect(byName.get(deep)?.type).toBe('directory')
      expect(byName.get('empty')).toMatchObject({ type: 'file', size: 0, body: '' })
      expect(byName.get('hard')).toMatchObject({ type: 'link', linkname: 'empty' })
      expect(byName.get('sym')).toMatchObject({ type: 'symlink', linkname: target })
      // Split anywhere, the archive reads the same.
      for (const cut of [1, 100, 511, 512, 513, 1000, tar.length - 1]) expect(readTar([tar.subarray(0, cut), tar.subarray(cut)])).toEqual(seen)
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})
