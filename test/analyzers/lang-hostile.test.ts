import { readFileSync } from 'node:fs'
import { zipSync, zlibSync } from 'fflate'
import { describe, expect, it } from 'vitest'
import { javaArchiveAnalyzer, MAX_JAR_DEPTH, parseJavaArchive } from '../../src/analyzers/java-archive.js'
import { langBinaryAnalyzer } from '../../src/analyzers/lang-binary.js'
import { readElf } from '../../src/analyzers/lang/elf.js'
import { inflateBounded, readZipDirectory } from '../../src/analyzers/lang/zip.js'
import { npmLockAnalyzer } from '../../src/analyzers/npm-lock.js'
import { pythonEggAnalyzer } from '../../src/analyzers/python-egg.js'
import { VigilError, type ErrorRecord } from '../../src/errors.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'

const enc = new TextEncoder()
const pom = (a: string, v: string) => enc.encode(`groupId=org.example\nartifactId=${a}\nversion=${v}\n`)
const ctx = (path: string, size: number) => ({ path, size, mode: 0o644 })

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    if (VigilError.is(err)) return err.code
    throw err
  }
  return undefined
}

/** Central-directory record of `name`: its offset, to patch declared sizes like a crafted archive would. */
function centralEntryOffset(zip: Uint8Array, name: string): number {
  const needle = enc.encode(name)
  for (let i = 0; i + 46 < zip.length; i++) {
    if (zip[i] === 0x50 && zip[i + 1] === 0x4b && zip[i + 2] === 0x01 && zip[i + 3] === 0x02) {
      const n = zip[i + 28]! | (zip[i + 29]! << 8)
      if (n === needle.length && needle.every((b, k) => zip[i + 46 + k] === b)) return i
    }
  }
  throw new Error(`no central entry ${name}`)
}

function nested(depth: number): Uint8Array {
  let inner = zipSync({ 'META-INF/maven/org.example/deep/pom.properties': pom('deep', '1.0.0') })
  for (let i = 0; i < depth; i++) inner = zipSync({ [`lib/level${i}.jar`]: inner })
  return inner
}


/** A stored-entry zip in zip64 form (the way large fat jars are written), built field by field. */
function zip64(files: Record<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = []
  const central: Uint8Array[] = []
  let offset = 0
  for (const [name, data] of Object.entries(files)) {
    const n = enc.encode(name)
    const local = new Uint8Array(30 + n.length)
    const lv = new DataView(local.buffer)
    lv.setUint32(0, 0x04034b50, true)
    lv.setUint16(26, n.length, true)
    local.set(n, 30)
    const cd = new Uint8Array(46 + n.length + 28)
    const cv = new DataView(cd.buffer)
    cv.setUint32(0, 0x02014b50, true)
    cv.setUint32(20, 0xffffffff, true) // compressed size → extra
    cv.setUint32(24, 0xffffffff, true) // size → extra
    cv.setUint16(28, n.length, true)
    cv.setUint16(30, 28, true)
    cv.setUint32(42, 0xffffffff, true) // local header offset → extra
    cd.set(n, 46)
    const x = 46 + n.length
    cv.setUint16(x, 0x0001, true)
    cv.setUint16(x + 2, 24, true)
    cv.setBigUint64(x + 4, BigInt(data.length), true)
    cv.setBigUint64(x + 12, BigInt(data.length), true)
    cv.setBigUint64(x + 20, BigInt(offset), true)
    parts.push(local, data)
    central.push(cd)
    offset += local.length + data.length
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0)
  const tail = new Uint8Array(56 + 20 + 22)
  const tv = new DataView(tail.buffer)
  tv.setUint32(0, 0x06064b50, true)
  tv.setBigUint64(32, BigInt(central.length), true)
  tv.setBigUint64(40, BigInt(cdSize), true)
  tv.setBigUint64(48, BigInt(offset), true)
  tv.setUint32(56, 0x07064b50, true)
  tv.setBigUint64(64, BigInt(offset + cdSize), true)
  tv.setUint32(76, 0x06054b50, true)
  tv.setUint16(76 + 10, 0xffff, true)
  tv.setUint32(76 + 12, 0xffffffff, true)
  tv.setUint32(76 + 16, 0xffffffff, true)
  const all = [...parts, ...central, tail]
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0))
  let at = 0
  for (const c of all) {
    out.set(c, at)
    at += c.length
  }
  return out
}

describe('hostile language inputs', () => {
  it('a jar entry declaring more than the inflate budget is refused before inflating; the jar still counts', async () => {
    const jar = zipSync({ 'lib/inner.jar': new Uint8Array(1024), 'META-INF/maven/a/b/pom.properties': pom('b', '1') })
    const cd = centralEntryOffset(jar, 'lib/inner.jar')
    new DataView(jar.buffer).setUint32(cd + 24, 0x7fff_0000, true) // ~2 GiB uncompressed, as a bomb declares
    const result = await javaArchiveAnalyzer.parse(jar, ctx('opt/bomb.jar', jar.length))
    expect(result.packages?.map((p) => p.purl)).toEqual(['pkg:maven/org.example/b@1'])
    expect(result.warnings?.map((w) => w.code)).toEqual(['ERR_ARCHIVE_BOMB'])
  })

  it('nested archives share one inflate budget: the second 3 MiB entry exceeds a 4 MiB budget', () => {
    const jar = zipSync({ 'lib/a.jar': new Uint8Array(3 * 1024 * 1024), 'lib/b.jar': new Uint8Array(3 * 1024 * 1024) }, { level: 1 })
    expect(jar.length).toBeLessThan(64 * 1024) // zeros deflate to a few KiB
    const warnings: ErrorRecord[] = []
    parseJavaArchive(jar, 'opt/bomb.jar', 4 * 1024 * 1024, warnings)
    expect(warnings.map((w) => w.code)).toContain('ERR_ARCHIVE_BOMB')
    expect(warnings.find((w) => w.code === 'ERR_ARCHIVE_BOMB')?.message).toContain('opt/bomb.jar!lib/b.jar: expands past the archive budget')
  })

  it('a jar entry that inflates past its declared size is a bomb, caught within one input step', () => {
    const jar = zipSync({ 'lib/zeros.jar': new Uint8Array(2 * 1024 * 1024) }, { level: 1 })
    const cd = centralEntryOffset(jar, 'lib/zeros.jar')
    new DataView(jar.buffer).setUint32(cd + 24, 1000, true)
    const warnings: ErrorRecord[] = []
    expect(parseJavaArchive(jar, 'opt/liar.jar', undefined, warnings)).toEqual([])
    expect(warnings.map((w) => w.code)).toEqual(['ERR_ARCHIVE_BOMB'])
  })

  it(`nested jars: ${MAX_JAR_DEPTH} levels are read, one more is not opened and is named`, () => {
    const ok = nested(MAX_JAR_DEPTH)
    const none: ErrorRecord[] = []
    expect(parseJavaArchive(ok, 'opt/ok.jar', undefined, none).map((p) => p.purl)).toEqual(['pkg:maven/org.example/deep@1.0.0'])
    expect(none).toEqual([])
    const warnings: ErrorRecord[] = []
    expect(parseJavaArchive(nested(MAX_JAR_DEPTH + 1), 'opt/deep.jar', undefined, warnings)).toEqual([])
    expect(warnings).toMatchObject([{ code: 'ERR_ARCHIVE_BOMB', details: { entry: 'opt/deep.jar!lib/level4.jar!lib/level3.jar!lib/level2.jar!lib/level1.jar!lib/level0.jar' } }])
  })

  it('zip64 archives (large fat jars) are read through the zip64 end record and extra fields', () => {
    const jar = zip64({
      'META-INF/maven/org.example/fat/pom.properties': pom('fat', '2.0.0'),
      'BOOT-INF/lib/inner.jar': zipSync({ 'META-INF/maven/org.example/inner/pom.properties': pom('inner', '1.1.0') }),
    })
    expect(parseJavaArchive(jar, 'opt/fat.jar').map((p) => p.purl)).toEqual(['pkg:maven/org.example/fat@2.0.0', 'pkg:maven/org.example/inner@1.1.0'])
  })

  it('a zip whose directory lies about its size or place is corrupt, with no allocation from the header', () => {
    const zip = zipSync({ 'EGG-INFO/PKG-INFO': enc.encode('Name: x\nVersion: 1\n') })
    const eocd = zip.length - 22
    const patched = zip.slice()
    new DataView(patched.buffer).setUint32(eocd + 16, 0x7fff_fff0, true) // directory offset past the end
    expect(codeOf(() => readZipDirectory(patched, 'x.egg'))).toBe('ERR_PKGDB_CORRUPT')
    const many = zip.slice()
    new DataView(many.buffer).setUint16(eocd + 10, 0xfffe, true) // 65534 entries claimed
    expect(codeOf(() => readZipDirectory(many, 'x.egg'))).toBe('ERR_PKGDB_CORRUPT')
    expect(codeOf(() => pythonEggAnalyzer.parse(enc.encode('not a zip at all, just text'), ctx('x.egg', 27)))).toBe('ERR_PKGDB_CORRUPT')
  })

  it('bounded inflate refuses a zlib stream that expands past its limit', () => {
    const bomb = zlibSync(new Uint8Array(2 * 1024 * 1024), { level: 1 })
    expect(inflateBounded(bomb, 512 * 1024, true)).toBeUndefined()
    expect(inflateBounded(bomb, 2 * 1024 * 1024, true)?.length).toBe(2 * 1024 * 1024)
  })

  it('Go build info with an absurd string length yields nothing instead of allocating', () => {
    // ELF64 LE, no sections, one writable PT_LOAD over the whole file holding the header at 192.
    const bytes = new Uint8Array(256)
    const v = new DataView(bytes.buffer)
    bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1])
    v.setBigUint64(32, 128n, true) // e_phoff
    v.setUint16(54, 56, true) // e_phentsize
    v.setUint16(56, 1, true) // e_phnum
    v.setUint32(128, 1, true) // PT_LOAD
    v.setUint32(132, 6, true) // PF_R | PF_W
    v.setBigUint64(160, 256n, true) // p_filesz
    bytes.set(Buffer.from('\xff Go buildinf:', 'latin1'), 192)
    bytes[192 + 14] = 8
    bytes[192 + 15] = 2 // inline strings
    bytes.set([0xff, 0xff, 0xff, 0xff, 0x0f], 224) // varint ≈ 4 GiB
    expect(langBinaryAnalyzer.parse(bytes, ctx('usr/bin/fake', bytes.length))).toEqual({ packages: [] })
    bytes.set([0x05, 0x67, 0x6f, 0x31, 0x2e, 0x39, 0x00], 224) // "go1.9", then an empty module string
    expect((langBinaryAnalyzer.parse(bytes, ctx('usr/bin/fake', bytes.length)) as { packages: { purl: string }[] }).packages.map((p) => p.purl)).toEqual(['pkg:golang/stdlib@v1.9.0'])
  })

  it('an ELF header whose section table lies outside the file is corrupt', () => {
    const bytes = new Uint8Array(64)
    bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1])
    const v = new DataView(bytes.buffer)
    v.setBigUint64(40, 1n << 40n, true) // e_shoff far away
    v.setUint16(58, 64, true)
    v.setUint16(60, 0xffff, true)
    expect(codeOf(() => readElf(bytes, 'usr/bin/liar'))).toBe('ERR_PKGDB_CORRUPT')
  })

  it('package-lock v1 nested past the depth limit is corrupt, not a stack overflow', () => {
    let deps = '{}'
    for (let i = 0; i < 400; i++) deps = `{"a${i}":{"version":"1.0.0","dependencies":${deps}}}`
    const bytes = enc.encode(`{"lockfileVersion":1,"dependencies":${deps}}`)
    expect(codeOf(() => npmLockAnalyzer.parse(bytes, ctx('app/package-lock.json', bytes.length)))).toBe('ERR_PKGDB_CORRUPT')
  })
})

noteSharedMissing('truncated ELF inputs')

describe.skipIf(!HAS_SHARED)('truncated real binaries', () => {
  const elf = HAS_SHARED ? readFileSync(sharedPath('pkgdb', 'trivy', 'pkg', 'dependency', 'parser', 'golang', 'binary', 'testdata', 'test.elf')) : Buffer.alloc(0)

  it('without a .go.buildinfo section the header is found by scanning writable segments', () => {
    const renamed = Buffer.from(elf)
    const at = renamed.indexOf('.go.buildinfo\0', 0, 'latin1')
    expect(at).toBeGreaterThan(0)
    renamed.write('.go.buildinfX', at, 'latin1')
    const a = langBinaryAnalyzer.parse(elf, ctx('usr/bin/test', elf.length)) as { packages: { purl: string }[] }
    const b = langBinaryAnalyzer.parse(renamed, ctx('usr/bin/test', renamed.length)) as { packages: { purl: string }[] }
    expect(b.packages.map((p) => p.purl)).toEqual(a.packages.map((p) => p.purl))
  })

  it('every cut of a Go binary ends in packages or a clear error, never a crash', () => {
    const full = langBinaryAnalyzer.parse(elf, ctx('usr/bin/test', elf.length)) as { packages: unknown[] }
    expect(full.packages.length).toBe(5)
    for (const cut of [4, 63, 64, 1000, 100_000, elf.length >> 1, elf.length - 4096, elf.length - 1]) {
      const part = elf.subarray(0, cut)
      try {
        const r = langBinaryAnalyzer.parse(part, ctx('usr/bin/test', cut)) as { packages: unknown[] }
        expect(r.packages.length).toBeLessThanOrEqual(5)
      } catch (err) {
        expect(VigilError.is(err), `cut ${cut}: ${String(err)}`).toBe(true)
      }
    }
  })
})
