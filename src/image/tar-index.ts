import type { FileHandle } from 'node:fs/promises'
import { VigilError } from '../errors.js'

/**
 * Where each member of a tar file sits, read from the headers alone (each member's data is
 * skipped with a seek). Hand-written rather than tar-stream because tar-stream streams every byte
 * through: indexing a 200 MB docker-archive would read 200 MB, and here it reads a few KB.
 */
export interface TarMember {
  name: string
  /** '0' file, '1' hard link, '2' symlink, '5' directory, ... (ustar typeflag). */
  type: string
  offset: number
  size: number
  linkName: string
}

const BLOCK = 512
const MAX_MEMBERS = 1_000_000

function archiveError(path: string, why: string): VigilError {
  return new VigilError('ERR_ARCHIVE_INVALID', `docker-archive ${path}: ${why}`)
}

function cString(buf: Buffer, start: number, length: number): string {
  const slice = buf.subarray(start, start + length)
  const end = slice.indexOf(0)
  return slice.subarray(0, end === -1 ? slice.length : end).toString('utf8')
}

/** Octal, or base-256 (GNU, first byte 0x80) for sizes past 8 GiB. */
function parseNumber(buf: Buffer, start: number, length: number): number | undefined {
  const field = buf.subarray(start, start + length)
  if (field[0]! & 0x80) {
    let value = 0
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!
    return Number.isSafeInteger(value) ? value : undefined
  }
  const text = cString(buf, start, length).trim()
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) return undefined
  return parseInt(text, 8)
}

function checksumOk(header: Buffer): boolean {
  const stored = parseNumber(header, 148, 8)
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!
  return stored === sum
}

/** PAX records: "<len> <key>=<value>\n". Only `path` and `linkpath` and `size` matter here. */
function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {}
  let pos = 0
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos)
    if (space === -1) break
    const len = parseInt(data.subarray(pos, space).toString('ascii'), 10)
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length) break
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8')
    const eq = record.indexOf('=')
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1)
    pos += len
  }
  return out
}

export async function indexTar(fh: FileHandle, path: string): Promise<Map<string, TarMember>> {
  const { size: fileSize } = await fh.stat()
  const members = new Map<string, TarMember>()
  const header = Buffer.alloc(BLOCK)
  let pos = 0
  let pending: { path?: string; linkpath?: string; size?: string } = {}
  let count = 0
  while (pos + BLOCK <= fileSize) {
    const { bytesRead } = await fh.read(header, 0, BLOCK, pos)
    if (bytesRead < BLOCK) throw archiveError(path, 'truncated tar header')
    if (header.every((b) => b === 0)) break
    if (!checksumOk(header)) throw archiveError(path, `bad tar header checksum at offset ${pos} (not a tar file?)`)
    if (++count > MAX_MEMBERS) throw archiveError(path, 'too many tar members')
    const type = String.fromCharCode(header[156]!) === '\0' ? '0' : String.fromCharCode(header[156]!)
    let size = parseNumber(header, 124, 12)
    if (size === undefined) throw archiveError(path, `bad size field at offset ${pos}`)
    if (pending.size !== undefined && /^[0-9]+$/.test(pending.size)) size = Number(pending.size)
    const dataOffset = pos + BLOCK
    if (dataOffset + size > fileSize) throw archiveError(path, `member at offset ${pos} runs past the end of the file (truncated archive)`)
    if (type === 'x' || type === 'L' || type === 'K') {
      // Extended headers describe the next member; they are small, so read them whole.
      if (size > 1024 * 1024) throw archiveError(path, 'oversized extended header')
      const data = Buffer.alloc(size)
      await fh.read(data, 0, size, dataOffset)
      if (type === 'x') pending = { ...pending, ...parsePax(data) }
      else if (type === 'L') pending.path = cString(data, 0, data.length)
      else pending.linkpath = cString(data, 0, data.length)
    } else if (type !== 'g') {
      const magic = header.subarray(257, 263).toString('latin1')
      const prefix = magic.startsWith('ustar') ? cString(header, 345, 155) : ''
      const baseName = cString(header, 0, 100)
      const name = normalizeName(pending.path ?? (prefix ? `${prefix}/${baseName}` : baseName))
      const linkName = pending.linkpath ?? cString(header, 157, 100)
      members.set(name, { name, type, offset: dataOffset, size, linkName })
      pending = {}
    }
    pos = dataOffset + Math.ceil(size / BLOCK) * BLOCK
  }
  if (members.size === 0) throw archiveError(path, 'empty or not a tar file')
  return members
}

export function normalizeName(name: string): string {
  return name.replace(/^(?:\.\/)+/, '').replace(/^\/+/, '').replace(/\/+$/, '')
}

/**
 * The member that holds `name`'s bytes. `docker save` writes a layer that occurs twice as a
 * symlink to the first copy, so links are followed (a few hops, relative to the link's folder).
 */
export function findFile(members: Map<string, TarMember>, name: string, path: string): TarMember {
  let current = normalizeName(name)
  for (let hop = 0; hop < 8; hop++) {
    const m = members.get(current)
    if (!m) throw archiveError(path, `"${name}" is named in manifest.json but not in the archive`)
    if (m.type === '0' || m.type === '7') return m
    if (m.type === '1') current = normalizeName(m.linkName)
    else if (m.type === '2') current = resolveLink(current, m.linkName)
    else throw archiveError(path, `"${name}" is not a regular file`)
  }
  throw archiveError(path, `"${name}": too many links`)
}

function resolveLink(from: string, target: string): string {
  if (target.startsWith('/')) return normalizeName(target)
  const parts = from.split('/').slice(0, -1)
  for (const p of target.split('/')) {
    if (p === '..') parts.pop()
    else if (p !== '.' && p !== '') parts.push(p)
  }
  return parts.join('/')
}
