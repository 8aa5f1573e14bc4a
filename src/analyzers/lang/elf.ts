import { VigilError } from '../../errors.js'

/**
 * Just enough ELF to find a named section and to map a virtual address to file bytes (Go's
 * pre-1.18 build info stores pointers). Hand-written: no npm ELF reader is both maintained and
 * bounds-checked, and this needs three tables. Every offset is checked against the file, so a
 * truncated or lying header ends in ERR_PKGDB_CORRUPT, never in a huge allocation.
 */

export interface ElfSection {
  readonly name: string
  readonly addr: number
  readonly offset: number
  readonly size: number
  /** SHT_NOBITS sections (.bss) have no bytes in the file. */
  readonly nobits: boolean
}

export interface ElfSegment {
  readonly vaddr: number
  readonly offset: number
  readonly filesz: number
  readonly writable: boolean
}

export interface Elf {
  readonly is64: boolean
  readonly littleEndian: boolean
  readonly sections: readonly ElfSection[]
  readonly segments: readonly ElfSegment[]
}

export function isElf(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46
}

const MAX_TABLE_ENTRIES = 0xffff

export function readElf(bytes: Uint8Array, where: string): Elf {
  const corrupt = (why: string): VigilError => new VigilError('ERR_PKGDB_CORRUPT', `${where}: ${why}`)
  if (!isElf(bytes) || bytes.length < 52) throw corrupt('not an ELF file or truncated header')
  const is64 = bytes[4] === 2
  const le = bytes[5] !== 2
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const u16 = (o: number): number => v.getUint16(o, le)
  const u32 = (o: number): number => v.getUint32(o, le)
  const word = (o: number): number => (is64 ? Number(v.getBigUint64(o, le)) : u32(o))
  if (is64 && bytes.length < 64) throw corrupt('truncated ELF64 header')
  const phoff = word(is64 ? 32 : 28)
  const shoff = word(is64 ? 40 : 32)
  const phentsize = u16(is64 ? 54 : 42)
  const phnum = u16(is64 ? 56 : 44)
  const shentsize = u16(is64 ? 58 : 46)
  const shnum = u16(is64 ? 60 : 48)
  const shstrndx = u16(is64 ? 62 : 50)
  const inFile = (off: number, len: number): boolean => off >= 0 && len >= 0 && off + len <= bytes.length

  const segments: ElfSegment[] = []
  if (phnum > 0 && phnum <= MAX_TABLE_ENTRIES && phentsize >= (is64 ? 56 : 32) && inFile(phoff, phnum * phentsize)) {
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize
      if (u32(o) !== 1) continue // PT_LOAD only
      const offset = is64 ? word(o + 8) : u32(o + 4)
      const vaddr = is64 ? word(o + 16) : u32(o + 8)
      const filesz = is64 ? word(o + 32) : u32(o + 16)
      const flags = is64 ? u32(o + 4) : u32(o + 24)
      segments.push({ vaddr, offset, filesz, writable: (flags & 2) !== 0 })
    }
  }

  const sections: ElfSection[] = []
  if (shnum > 0 && shentsize >= (is64 ? 64 : 40) && inFile(shoff, shnum * shentsize)) {
    const raw: { nameOff: number; type: number; addr: number; offset: number; size: number }[] = []
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize
      raw.push({
        nameOff: u32(o),
        type: u32(o + 4),
        addr: is64 ? word(o + 16) : u32(o + 12),
        offset: is64 ? word(o + 24) : u32(o + 16),
        size: is64 ? word(o + 32) : u32(o + 20),
      })
    }
    const strtab = raw[shstrndx]
    if (strtab && inFile(strtab.offset, strtab.size)) {
      const names = bytes.subarray(strtab.offset, strtab.offset + strtab.size)
      for (const s of raw) {
        let end = s.nameOff
        while (end < names.length && names[end] !== 0) end++
        const name = s.nameOff < names.length ? String.fromCharCode(...names.subarray(s.nameOff, Math.min(end, s.nameOff + 64))) : ''
        sections.push({ name, addr: s.addr, offset: s.offset, size: s.size, nobits: s.type === 8 })
      }
    }
  } else if (shnum > 0 && !inFile(shoff, shnum * shentsize)) {
    throw corrupt('section header table lies outside the file (truncated?)')
  }
  return { is64, littleEndian: le, sections, segments }
}

export function sectionBytes(bytes: Uint8Array, elf: Elf, name: string): Uint8Array | undefined {
  const s = elf.sections.find((x) => x.name === name)
  if (!s || s.nobits) return undefined
  if (s.offset + s.size > bytes.length) return undefined
  return bytes.subarray(s.offset, s.offset + s.size)
}

/** File bytes behind a virtual address, or undefined when no loaded segment holds them all. */
export function readVirtual(bytes: Uint8Array, elf: Elf, addr: number, len: number): Uint8Array | undefined {
  for (const seg of elf.segments) {
    if (addr >= seg.vaddr && addr + len <= seg.vaddr + seg.filesz) {
      const off = seg.offset + (addr - seg.vaddr)
      return off + len <= bytes.length ? bytes.subarray(off, off + len) : undefined
    }
  }
  for (const s of elf.sections) {
    if (!s.nobits && s.addr !== 0 && addr >= s.addr && addr + len <= s.addr + s.size) {
      const off = s.offset + (addr - s.addr)
      return off + len <= bytes.length ? bytes.subarray(off, off + len) : undefined
    }
  }
  return undefined
}
