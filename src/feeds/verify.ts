import { createReadStream } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { VigilError } from '../errors.js'
import { looksLikeDebianTracker } from './debian.js'
import { objectMembers } from './json-members.js'
import { detectText } from './read.js'
import type { FeedFormat } from './types.js'

/**
 * Checks a downloaded feed file before any of it is imported, so a download that is cut short,
 * corrupt or of the wrong kind changes nothing: the zip's central directory is complete, a gzip
 * inflates to its end, a JSON document closes, and the content is the format the source serves.
 * Returns the file's entry count (zip entries, tracker packages, secdb packages) for the
 * collapse check: a snapshot that shrank to under half its last size is refused, not applied
 * (applying it would withdraw everything it lost).
 */
export async function verifyFeedFile(file: string, format: FeedFormat, previousEntries: number | undefined, maxMember: number): Promise<number> {
  const entries = await entriesOf(file, format, maxMember)
  if (previousEntries !== undefined && previousEntries >= 20 && entries < previousEntries / 2) {
    throw new VigilError('ERR_FEED_CORRUPT', `${file}: ${entries} entries where the last sync had ${previousEntries}; refused as a collapsed snapshot`)
  }
  return entries
}

async function entriesOf(file: string, format: FeedFormat, maxMember: number): Promise<number> {
  switch (format) {
    case 'osv-zip':
      return zipEntryCount(file)
    case 'epss-csv':
      return gzipLines(file)
    case 'debian-tracker':
      return trackerPackages(file, maxMember)
    case 'alpine-secdb':
    case 'kev-json':
      return jsonDocument(file, format)
    default:
      throw new VigilError('ERR_FEED_CORRUPT', `${file}: no check for format ${format}`)
  }
}

const corrupt = (file: string, why: string) => new VigilError('ERR_FEED_CORRUPT', `${file}: ${why}`)

/**
 * The end-of-central-directory record (zip64 when the counts overflow), then every central
 * directory header it promises, each pointing before the directory. A download cut anywhere
 * loses the EOCD or leaves the directory short.
 */
export async function zipEntryCount(file: string): Promise<number> {
  const fh = await open(file, 'r')
  try {
    const size = (await fh.stat()).size
    const tailLen = Math.min(size, 65_557)
    const tail = Buffer.alloc(tailLen)
    await fh.read(tail, 0, tailLen, size - tailLen)
    const at = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
    if (at < 0 || at + 22 > tailLen) throw corrupt(file, 'zip is truncated (no end of central directory)')
    let entries = tail.readUInt16LE(at + 10)
    let cdSize = tail.readUInt32LE(at + 12)
    let cdOffset = tail.readUInt32LE(at + 16)
    let cdEnd = size - tailLen + at
    if (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = at - 20
      if (loc < 0 || tail.readUInt32LE(loc) !== 0x07064b50) throw corrupt(file, 'zip64 locator missing')
      const eocd64At = Number(tail.readBigUInt64LE(loc + 8))
      const eocd64 = Buffer.alloc(56)
      await fh.read(eocd64, 0, 56, eocd64At)
      if (eocd64.readUInt32LE(0) !== 0x06064b50) throw corrupt(file, 'zip64 end of central directory missing')
      entries = Number(eocd64.readBigUInt64LE(32))
      cdSize = Number(eocd64.readBigUInt64LE(40))
      cdOffset = Number(eocd64.readBigUInt64LE(48))
      cdEnd = eocd64At
    }
    if (cdOffset + cdSize > cdEnd) throw corrupt(file, 'zip central directory runs past the end of the file (truncated)')
    const cd = Buffer.alloc(cdSize)
    await fh.read(cd, 0, cdSize, cdOffset)
    let p = 0
    for (let i = 0; i < entries; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) throw corrupt(file, `zip central directory ends after ${i} of ${entries} entries`)
      const local = cd.readUInt32LE(p + 42)
      if (local !== 0xffffffff && local >= cdOffset) throw corrupt(file, 'a zip entry points past the central directory')
      p += 46 + cd.readUInt16LE(p + 28) + cd.readUInt16LE(p + 30) + cd.readUInt16LE(p + 32)
    }
    return entries
  } finally {
    await fh.close()
  }
}

/** Inflates the whole gzip (catching a cut-short stream) and counts its lines. */
async function gzipLines(file: string): Promise<number> {
  let lines = 0
  let first: string | undefined
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (first === undefined) first = chunk.subarray(0, 4096).toString('utf8')
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++
      done()
    },
  })
  try {
    await pipeline(createReadStream(file), createGunzip(), sink)
  } catch (err) {
    throw corrupt(file, `gzip is truncated or corrupt (${(err as Error).message})`)
  }
  if (detectText((first ?? '').trimStart()) !== 'epss-csv') throw corrupt(file, 'not an EPSS CSV')
  return lines
}

async function trackerPackages(file: string, maxMember: number): Promise<number> {
  let n = 0
  try {
    for await (const m of objectMembers(createReadStream(file, { highWaterMark: 1 << 20 }), maxMember)) {
      if (n < 3 && 'text' in m && !looksLikeDebianTracker({ [m.key]: JSON.parse(m.text) as unknown })) throw corrupt(file, 'not a Debian security tracker document')
      n++
    }
  } catch (err) {
    if (VigilError.is(err)) throw err
    throw corrupt(file, `JSON is truncated or malformed (${(err as Error).message})`)
  }
  return n
}

async function jsonDocument(file: string, format: FeedFormat): Promise<number> {
  let json: unknown
  try {
    json = JSON.parse((await readFile(file, 'utf8')).replace(/^\uFEFF/, ''))
  } catch (err) {
    throw corrupt(file, `JSON is truncated or malformed (${(err as Error).message})`)
  }
  const doc = json as { packages?: unknown; distroversion?: unknown; vulnerabilities?: unknown }
  if (format === 'alpine-secdb') {
    if (typeof doc.distroversion !== 'string' || (!Array.isArray(doc.packages) && doc.packages !== '')) throw corrupt(file, 'not an Alpine secdb document')
    return Array.isArray(doc.packages) ? doc.packages.length : 0
  }
  if (!Array.isArray(doc.vulnerabilities)) throw corrupt(file, 'not a KEV catalogue')
  return doc.vulnerabilities.length
}
