import { VigilError } from '../../errors.js'

/**
 * An rpm header blob as the package databases store it (no lead, no 8-byte header magic):
 * `il` and `dl` (big-endian uint32), `il` index entries of 16 bytes (tag, type, offset, count),
 * then `dl` bytes of data. Hand-written because no npm package reads rpm headers from bytes;
 * the layout is rpm's own lib/header.c, cross-read with knqyf263/go-rpmdb.
 */

// rpm's own sanity limits (lib/header_internal.h): past these a header is not a header.
const HEADER_TAGS_MAX = 0xffff
const HEADER_DATA_MAX = 0x0fffffff
const ENTRY_SIZE = 16

const TYPE_INT32 = 4
const TYPE_STRING = 6
const TYPE_STRING_ARRAY = 8
const TYPE_I18NSTRING = 9

export const TAG = {
  name: 1000,
  version: 1001,
  release: 1002,
  epoch: 1003,
  license: 1014,
  arch: 1022,
  oldFilenames: 1027,
  sourceRpm: 1044,
  dirIndexes: 1116,
  baseNames: 1117,
  dirNames: 1118,
  modularityLabel: 5096,
} as const

export interface RpmHeader {
  name: string
  version: string
  release: string
  epoch?: number
  arch?: string
  license?: string
  sourceRpm?: string
  modularityLabel?: string
  files: string[]
}

interface Entry {
  type: number
  offset: number
  count: number
}

const utf8 = new TextDecoder('utf-8')

function corrupt(message: string): VigilError {
  return new VigilError('ERR_PKGDB_CORRUPT', `rpm header: ${message}`)
}

/** Reads one header blob; throws ERR_PKGDB_CORRUPT on any out-of-bounds or impossible value. */
export function parseRpmHeader(blob: Uint8Array): RpmHeader {
  if (blob.length < 8) throw corrupt(`blob of ${blob.length} bytes is shorter than its preamble`)
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength)
  const il = view.getUint32(0)
  const dl = view.getUint32(4)
  if (il < 1 || il > HEADER_TAGS_MAX) throw corrupt(`index count ${il} out of range`)
  if (dl > HEADER_DATA_MAX) throw corrupt(`data length ${dl} out of range`)
  const dataStart = 8 + il * ENTRY_SIZE
  if (dataStart + dl > blob.length) throw corrupt(`claims ${il} entries and ${dl} data bytes, blob has ${blob.length}`)
  const data = blob.subarray(dataStart, dataStart + dl)

  const entries = new Map<number, Entry>()
  for (let i = 0; i < il; i++) {
    const at = 8 + i * ENTRY_SIZE
    const tag = view.getUint32(at)
    // Only the tags we read are kept: the rest (regions, signatures, dependencies) cost nothing.
    if (!WANTED.has(tag)) continue
    const entry = { type: view.getUint32(at + 4), offset: view.getUint32(at + 8), count: view.getUint32(at + 12) }
    if (entry.offset >= dl && entry.count > 0) throw corrupt(`tag ${tag} points past the data store`)
    entries.set(tag, entry)
  }

  const name = string(data, entries, TAG.name)
  const version = string(data, entries, TAG.version)
  const release = string(data, entries, TAG.release)
  if (name === undefined || version === undefined || release === undefined) throw corrupt('missing name, version or release')
  const epoch = int32s(data, entries, TAG.epoch)?.[0]
  return {
    name,
    version,
    release,
    ...(epoch !== undefined ? { epoch } : {}),
    ...optional('arch', string(data, entries, TAG.arch)),
    ...optional('license', string(data, entries, TAG.license)),
    ...optional('sourceRpm', string(data, entries, TAG.sourceRpm)),
    ...optional('modularityLabel', string(data, entries, TAG.modularityLabel)),
    files: fileList(data, entries),
  }
}

const WANTED = new Set<number>(Object.values(TAG))

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined || value === '' ? {} : { [key]: value }) as { [P in K]?: string }
}

function string(data: Uint8Array, entries: Map<number, Entry>, tag: number): string | undefined {
  const e = entries.get(tag)
  if (!e) return undefined
  if (e.type !== TYPE_STRING && e.type !== TYPE_I18NSTRING && e.type !== TYPE_STRING_ARRAY) throw corrupt(`tag ${tag} has type ${e.type}, not a string`)
  return strings(data, e, 1, tag)[0]
}

function stringArray(data: Uint8Array, entries: Map<number, Entry>, tag: number): string[] | undefined {
  const e = entries.get(tag)
  if (!e) return undefined
  if (e.type !== TYPE_STRING_ARRAY) throw corrupt(`tag ${tag} has type ${e.type}, not a string array`)
  return strings(data, e, e.count, tag)
}

/** `limit` NUL-terminated strings from the entry's offset; every string must end inside the store. */
function strings(data: Uint8Array, e: Entry, limit: number, tag: number): string[] {
  // Each string takes at least one byte, so a count larger than the store is a lie.
  if (e.count > data.length) throw corrupt(`tag ${tag} claims ${e.count} strings in ${data.length} bytes`)
  const out: string[] = []
  let at = e.offset
  for (let i = 0; i < limit && i < e.count; i++) {
    const end = data.indexOf(0, at)
    if (end < 0) throw corrupt(`tag ${tag} string runs past the data store`)
    out.push(utf8.decode(data.subarray(at, end)))
    at = end + 1
  }
  return out
}

function int32s(data: Uint8Array, entries: Map<number, Entry>, tag: number): number[] | undefined {
  const e = entries.get(tag)
  if (!e) return undefined
  if (e.type !== TYPE_INT32) throw corrupt(`tag ${tag} has type ${e.type}, not int32`)
  if (e.offset % 4 !== 0 || e.offset + e.count * 4 > data.length) throw corrupt(`tag ${tag} int32 array out of bounds`)
  const view = new DataView(data.buffer, data.byteOffset + e.offset, e.count * 4)
  const out = new Array<number>(e.count)
  for (let i = 0; i < e.count; i++) out[i] = view.getInt32(i * 4)
  return out
}

/** Full paths without the leading `/`: dirnames[dirindexes[i]] + basenames[i], or the pre-4.x oldfilenames. */
function fileList(data: Uint8Array, entries: Map<number, Entry>): string[] {
  const baseNames = stringArray(data, entries, TAG.baseNames)
  if (baseNames) {
    const dirNames = stringArray(data, entries, TAG.dirNames) ?? []
    const dirIndexes = int32s(data, entries, TAG.dirIndexes) ?? []
    if (dirIndexes.length !== baseNames.length) throw corrupt(`${baseNames.length} basenames but ${dirIndexes.length} dirindexes`)
    const out = new Array<string>(baseNames.length)
    for (let i = 0; i < baseNames.length; i++) {
      const dir = dirNames[dirIndexes[i]!]
      if (dir === undefined) throw corrupt(`dirindex ${dirIndexes[i]} out of range`)
      out[i] = stripSlash(dir + baseNames[i])
    }
    return out
  }
  return (stringArray(data, entries, TAG.oldFilenames) ?? []).map(stripSlash)
}

function stripSlash(path: string): string {
  return path.charCodeAt(0) === 47 ? path.slice(1) : path
}
