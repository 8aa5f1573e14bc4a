import { Buffer } from 'node:buffer'
import { type Elf, readVirtual, sectionBytes } from './elf.js'

/**
 * Go build information (what `go version -m` prints) from an ELF binary. Two layouts exist behind
 * the 32-byte `\xff Go buildinf:` header: Go 1.18+ stores the version and module strings inline
 * as varint-length strings (flag bit 2); older toolchains store two pointers to Go string headers.
 */

export interface GoModule {
  path: string
  version: string
  replace?: { path: string; version: string }
}

export interface GoBuildInfo {
  goVersion: string
  main?: GoModule
  deps: GoModule[]
  settings: Map<string, string>
}

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1')
const MAX_STRING = 16 * 1024 * 1024

export function readGoBuildInfo(bytes: Uint8Array, elf: Elf): GoBuildInfo | undefined {
  let data = sectionBytes(bytes, elf, '.go.buildinfo')
  if (!data || !startsWithMagic(data)) {
    // No (or a renamed) section: as Go's debug/buildinfo does, look for the 16-byte-aligned
    // header in the writable loaded segments only, with a native scan; C binaries pay for their
    // data segment, not their text.
    data = undefined
    for (const seg of elf.segments) {
      if (!seg.writable || seg.offset >= bytes.length) continue
      const start = seg.offset
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset + start, Math.min(seg.filesz, bytes.length - start))
      let at = buf.indexOf(MAGIC)
      while (at >= 0 && (start + at) % 16 !== 0) at = buf.indexOf(MAGIC, at + 1)
      if (at >= 0) {
        data = bytes.subarray(start + at)
        break
      }
    }
    if (!data) return undefined
  }
  if (data.length < 32) return undefined
  const ptrSize = data[14] ?? 0
  const flags = data[15] ?? 0
  let vers: string | undefined
  let mod: string | undefined
  if (flags & 2) {
    const r = { pos: 32 }
    vers = varintString(data, r)
    mod = varintString(data, r)
  } else {
    if (ptrSize !== 4 && ptrSize !== 8) return undefined
    const bigEndian = (flags & 1) !== 0
    const ptr = (b: Uint8Array, o: number): number | undefined => readPtr(b, o, ptrSize, bigEndian)
    const vPtr = ptr(data, 16)
    const mPtr = ptr(data, 16 + ptrSize)
    if (vPtr === undefined || mPtr === undefined) return undefined
    vers = goString(bytes, elf, vPtr, ptrSize, bigEndian)
    mod = goString(bytes, elf, mPtr, ptrSize, bigEndian)
  }
  if (!vers) return undefined
  return parseModInfo(vers, mod ?? '')
}

function startsWithMagic(b: Uint8Array): boolean {
  for (let i = 0; i < MAGIC.length; i++) if (b[i] !== MAGIC[i]) return false
  return true
}

function readPtr(b: Uint8Array, o: number, size: number, bigEndian: boolean): number | undefined {
  if (o + size > b.length) return undefined
  const v = new DataView(b.buffer, b.byteOffset + o, size)
  return size === 8 ? Number(v.getBigUint64(0, !bigEndian)) : v.getUint32(0, !bigEndian)
}

function goString(bytes: Uint8Array, elf: Elf, addr: number, ptrSize: number, bigEndian: boolean): string | undefined {
  const header = readVirtual(bytes, elf, addr, 2 * ptrSize)
  if (!header) return undefined
  const dataPtr = readPtr(header, 0, ptrSize, bigEndian)
  const len = readPtr(header, ptrSize, ptrSize, bigEndian)
  if (dataPtr === undefined || len === undefined || len > MAX_STRING) return undefined
  const body = readVirtual(bytes, elf, dataPtr, len)
  return body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8') : undefined
}

function varintString(b: Uint8Array, r: { pos: number }): string | undefined {
  let len = 0
  let shift = 0
  for (;;) {
    const c = b[r.pos++]
    if (c === undefined || shift > 28) return undefined
    len |= (c & 0x7f) << shift
    if (!(c & 0x80)) break
    shift += 7
  }
  if (len < 0 || len > MAX_STRING || r.pos + len > b.length) return undefined
  const s = Buffer.from(b.buffer, b.byteOffset + r.pos, len).toString('utf8')
  r.pos += len
  return s
}

/** `go version -m` text: path / mod / dep / => / build lines, framed by 16-byte sentinels. */
export function parseModInfo(goVersion: string, modinfo: string): GoBuildInfo {
  let text = modinfo
  if (text.length >= 33 && text[text.length - 17] === '\n') text = text.slice(16, text.length - 16)
  const info: GoBuildInfo = { goVersion, deps: [], settings: new Map() }
  let last: GoModule | undefined
  for (const line of text.split('\n')) {
    const f = line.split('\t')
    switch (f[0]) {
      case 'mod':
        info.main = { path: f[1] ?? '', version: f[2] ?? '' }
        last = info.main
        break
      case 'dep':
        last = { path: f[1] ?? '', version: f[2] ?? '' }
        info.deps.push(last)
        break
      case '=>':
        if (last) last.replace = { path: f[1] ?? '', version: f[2] ?? '' }
        break
      case 'build': {
        const eq = (f[1] ?? '').indexOf('=')
        if (eq > 0) info.settings.set(f[1]!.slice(0, eq), unquote(f[1]!.slice(eq + 1)))
        break
      }
    }
  }
  return info
}

function unquote(s: string): string {
  if (s.startsWith('"') && s.endsWith('"')) {
    try {
      return JSON.parse(s) as string
    } catch {
      return s.slice(1, -1)
    }
  }
  return s
}
