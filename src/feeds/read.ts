import { closeSync, createReadStream, fstatSync, openSync, readSync, readdirSync } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { createGunzip } from 'node:zlib'
import { Readable } from 'node:stream'
import { Unzip } from 'fflate'
import { alpineSecdbToItems } from './alpine.js'
import { alasToItems } from './amazon.js'
import { azureOvalToItems } from './azure-oval.js'
import { debianTrackerToItems, looksLikeDebianTracker } from './debian.js'
import { epssToItems, kevToItems } from './exploit.js'
import { readHeadOf, splitLines } from './lines.js'
import { objectMembers } from './json-members.js'
import { nodejsWgToItems } from './nodejs.js'
import { osvToItems } from './osv.js'
import { oracleOvalToItems } from './oracle-oval.js'
import { photonToItems } from './photon.js'
import { suseCvrfToItems } from './suse-cvrf.js'
import { wolfiSecdbToItems } from './wolfi.js'
import { nativeInflate } from './zip-inflate.js'
import { recordError, type FeedFormat, type FeedItem, type ReadLimits } from './types.js'

export type ReadItem = FeedItem | { kind: 'file'; file: string; format: FeedFormat }

/** File names a directory walk considers; anything else in an OSV checkout (README, LICENSE) is not a feed. */
const FEED_FILE = /\.(json|ndjson|jsonl|zip|csv|gz)$/i
const HEAD_BYTES = 64 * 1024

/** Every feed item under `path` (a file or a directory, recursively, in name order). */
export async function* readFeedPath(path: string, limits: ReadLimits): AsyncGenerator<ReadItem> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    yield recordError('ERR_FEED_UNREADABLE', path, (err as Error).message)
    return
  }
  if (info.isDirectory()) {
    // Sync directory and small-file reads: a feed checkout is thousands of small files, and a
    // threadpool round trip per stat/open/read made the walk 5x slower than the parsing.
    let entries
    try {
      entries = readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    } catch (err) {
      yield recordError('ERR_FEED_UNREADABLE', path, (err as Error).message)
      return
    }
    for (const entry of entries) {
      const child = join(path, entry.name)
      if (entry.isDirectory()) yield* readFeedPath(child, limits)
      else if (FEED_FILE.test(entry.name)) yield* readFeedFile(child, undefined, limits)
    }
    return
  }
  yield* readFeedFile(path, info.size, limits)
}

/** The whole file when it is no larger than `max` (one open, fstat and read), else just its size. */
function readSmall(path: string, max: number): { size: number; bytes?: Buffer } {
  const fd = openSync(path, 'r')
  try {
    const size = fstatSync(fd).size
    if (size > max) return { size }
    const bytes = Buffer.allocUnsafe(size)
    let off = 0
    while (off < size) {
      const n = readSync(fd, bytes, off, size - off, off)
      if (n === 0) break
      off += n
    }
    return { size, bytes: bytes.subarray(0, off) }
  } finally {
    closeSync(fd)
  }
}

async function readHead(path: string): Promise<Buffer> {
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.alloc(HEAD_BYTES)
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

/** Detects the format by content (not by name) and reads the file. */
async function* readFeedFile(file: string, knownSize: number | undefined, limits: ReadLimits): AsyncGenerator<ReadItem> {
  let head: Buffer
  let size: number
  // A file no larger than one record is read whole, once; larger ones are sniffed, then streamed.
  let whole: Buffer | undefined
  try {
    const small = readSmall(file, limits.maxRecordBytes)
    size = knownSize ?? small.size
    if (small.bytes) head = whole = small.bytes
    else head = await readHead(file)
  } catch (err) {
    yield recordError('ERR_FEED_UNREADABLE', file, (err as Error).message)
    return
  }
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
    yield { kind: 'file', file, format: 'osv-zip' }
    yield* readZip(file, limits)
    return
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    yield* readGzip(file, limits)
    return
  }
  if (size > limits.maxFileBytes) {
    yield recordError('ERR_FEED_RECORD_TOO_LARGE', file, `file is ${size} bytes, over the ${limits.maxFileBytes}-byte limit`)
    return
  }
  const text = head.subarray(0, HEAD_BYTES).toString('utf8').replace(/^\uFEFF/, '').trimStart()
  const format = detectText(text)
  if (!format) {
    yield recordError('ERR_FEED_FORMAT_UNKNOWN', file, 'not OSV JSON/NDJSON/zip, Alpine/Wolfi/Chainguard secdb, Debian tracker JSON, Amazon ALAS, Azure Linux OVAL, Photon CVE metadata, SUSE CVRF, Oracle OVAL, npm advisory, EPSS CSV or KEV JSON')
    return
  }
  // One record per file is held to the record limit; an array of records only to the file limit.
  if (format === 'osv-json' && !text.startsWith('[') && size > limits.maxRecordBytes) {
    yield recordError('ERR_FEED_RECORD_TOO_LARGE', file, `OSV record is ${size} bytes, over the ${limits.maxRecordBytes}-byte record limit; not read`)
    return
  }
  if (format === 'epss-csv') {
    yield { kind: 'file', file, format }
    yield* epssToItems(splitLines(whole ? Readable.from([whole]) : createReadStream(file), limits.maxRecordBytes), file)
    return
  }
  if (format === 'osv-ndjson') {
    yield { kind: 'file', file, format }
    yield* readNdjson(whole ? Readable.from([whole]) : createReadStream(file), file, limits)
    return
  }
  if (format === 'debian-tracker' && !whole) {
    yield { kind: 'file', file, format }
    yield* readTrackerStream(file, limits)
    return
  }
  let json: unknown
  try {
    json = JSON.parse((whole ? whole.toString('utf8') : await readWhole(file)).replace(/^\uFEFF/, ''))
  } catch (err) {
    yield recordError('ERR_FEED_INVALID', file, `invalid JSON: ${(err as Error).message}`)
    return
  }
  yield* fromJson(json, format === 'json-unknown' ? undefined : format, file)
}

/**
 * The Debian tracker one source package at a time (a whole parse of a 123 MB file peaked at
 * 1.86 GB RSS). A document cut short is reported after the packages before the cut are imported.
 */
async function* readTrackerStream(file: string, limits: ReadLimits): AsyncGenerator<ReadItem> {
  try {
    for await (const m of objectMembers(createReadStream(file, { highWaterMark: 1 << 20 }), limits.maxRecordBytes)) {
      if ('tooLarge' in m) {
        yield recordError('ERR_FEED_RECORD_TOO_LARGE', `${file}!${m.key}`, `package entry is over the ${limits.maxRecordBytes}-byte record limit; skipped`)
        continue
      }
      let value: unknown
      try {
        value = JSON.parse(m.text)
      } catch (err) {
        yield recordError('ERR_FEED_INVALID', `${file}!${m.key}`, `invalid JSON: ${(err as Error).message}`)
        continue
      }
      yield* debianTrackerToItems({ [m.key]: value }, file)
    }
  } catch (err) {
    yield recordError('ERR_FEED_UNREADABLE', file, `Debian tracker JSON is truncated or malformed (${(err as Error).message}); the packages before it were imported`)
  }
}

async function readWhole(file: string): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of createReadStream(file)) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

type TextFormat = FeedFormat | 'json-unknown'

/** Format from the first 64 KB of text. */
export function detectText(text: string): TextFormat | undefined {
  if (text.startsWith('#model_version') || /^cve,epss/i.test(text)) return 'epss-csv'
  if (text.startsWith('[')) return 'osv-json'
  if (!text.startsWith('{')) return undefined
  const nl = text.indexOf('\n')
  if (nl > 0 && text.slice(nl + 1).trimStart().startsWith('{')) {
    try {
      JSON.parse(text.slice(0, nl))
      return 'osv-ndjson'
    } catch {
      // a pretty-printed document, not NDJSON
    }
  }
  if (/^\{\s*"[^"]+"\s*:\s*\{\s*"(?:CVE|TEMP)-/.test(text)) return 'debian-tracker'
  if (/"distroversion"\s*:/.test(text) && /"packages"\s*:/.test(text)) return 'alpine-secdb'
  if (/"secfixes"\s*:/.test(text) && /"reponame"\s*:/.test(text)) return 'wolfi-secdb'
  if (/^\{\s*"id"\s*:\s*"ALAS\d*-/.test(text)) return 'amazon-alas'
  if (/"ID"\s*:\s*"oval:com\.microsoft\.[a-z-]+:def:/.test(text)) return 'azure-oval'
  if (/"os_version"\s*:/.test(text) && /"cve_id"\s*:/.test(text) && /"res_ver"\s*:/.test(text)) return 'photon-cve'
  if (/"Tracking"\s*:/.test(text) && /"ProductTree"\s*:/.test(text) && /"(?:open)?SUSE-SU-/.test(text)) return 'suse-cvrf'
  if (/^\{\s*"Title"\s*:\s*"ELSA-\d{4}-\d+/.test(text) && /"Criteria"\s*:/.test(text)) return 'oracle-oval'
  if (/^\{\s*"(?:RpminfoTests|RpminfoObjects|RpminfoState)"\s*:/.test(text)) return 'oval-parts'
  if (/"catalogVersion"\s*:|"cveID"\s*:/.test(text)) return 'kev-json'
  if (/"module_name"\s*:/.test(text) && /"vulnerable_versions"\s*:/.test(text)) return 'nodejs-wg'
  if (/"id"\s*:\s*"/.test(text) && /"(?:modified|affected|schema_version|aliases)"\s*:/.test(text)) return 'osv-json'
  return 'json-unknown'
}

async function* fromJson(json: unknown, format: FeedFormat | undefined, file: string): AsyncGenerator<ReadItem> {
  const f = format ?? (looksLikeDebianTracker(json) ? 'debian-tracker' : undefined)
  if (!f) {
    yield recordError('ERR_FEED_FORMAT_UNKNOWN', file, 'JSON document of an unknown feed format')
    return
  }
  yield { kind: 'file', file, format: f }
  switch (f) {
    case 'osv-json':
      if (Array.isArray(json)) for (const r of json) yield* osvToItems(r, file)
      else yield* osvToItems(json, file)
      return
    case 'alpine-secdb':
      return yield* alpineSecdbToItems(json, file)
    case 'debian-tracker':
      return yield* debianTrackerToItems(json, file)
    case 'kev-json':
      return yield* kevToItems(json, file)
    case 'nodejs-wg':
      return yield* nodejsWgToItems(json, file)
    case 'wolfi-secdb':
      return yield* wolfiSecdbToItems(json, file)
    case 'amazon-alas':
      return yield* alasToItems(json, file)
    case 'azure-oval':
      return yield* azureOvalToItems(json, file)
    case 'photon-cve':
      return yield* photonToItems(json, file)
    case 'suse-cvrf':
      return yield* suseCvrfToItems(json, file)
    case 'oracle-oval':
      return yield* oracleOvalToItems(json, file)
    case 'oval-parts':
      // Tests, objects and states: read by each definition that refers to them (azure-oval.ts).
      return
    default:
      yield recordError('ERR_FEED_FORMAT_UNKNOWN', file, `format ${f} is not a JSON document`)
  }
}

async function* readNdjson(chunks: AsyncIterable<Uint8Array>, file: string, limits: ReadLimits): AsyncGenerator<ReadItem> {
  for await (const line of splitLines(chunks, limits.maxRecordBytes)) {
    const where = `${file}:${line.n}`
    if ('tooLong' in line) {
      yield recordError('ERR_FEED_RECORD_TOO_LARGE', where, `record is ${line.tooLong} bytes, over the ${limits.maxRecordBytes}-byte record limit; skipped`)
      continue
    }
    if (line.text.trim() === '') continue
    let json: unknown
    try {
      json = JSON.parse(line.text)
    } catch (err) {
      yield recordError('ERR_FEED_INVALID', where, `invalid JSON: ${(err as Error).message}`)
      continue
    }
    yield* osvToItems(json, where)
  }
}

/**
 * gzip: EPSS ships as .csv.gz. The format is told from the first 64 KiB inflated; line formats
 * (EPSS, NDJSON) then stream with each line held to the record limit, and a JSON document is
 * inflated only up to its limit (one OSV record: the record limit; anything else: the file
 * limit), so a gzip of one endless line is refused at the limit instead of being inflated whole.
 */
async function* readGzip(file: string, limits: ReadLimits): AsyncGenerator<ReadItem> {
  const source = createReadStream(file, { highWaterMark: 1 << 20 })
  const inflated = source.pipe(createGunzip())
  const stop = () => {
    inflated.destroy()
    source.destroy()
  }
  let head: Buffer
  let rest: AsyncIterable<Uint8Array>
  try {
    ;({ head, rest } = await readHeadOf(inflated as AsyncIterable<Uint8Array>, HEAD_BYTES))
  } catch (err) {
    stop()
    yield recordError('ERR_FEED_UNREADABLE', file, `gzip: ${(err as Error).message}`)
    return
  }
  const text = head.toString('utf8').replace(/^\uFEFF/, '').trimStart()
  const format = detectText(text)
  try {
    if (format === 'epss-csv' || format === 'osv-ndjson') {
      yield { kind: 'file', file, format }
      if (format === 'epss-csv') yield* epssToItems(splitLines(rest, limits.maxRecordBytes), file)
      else yield* readNdjson(rest, file, limits)
      return
    }
    if (!format) {
      yield recordError('ERR_FEED_FORMAT_UNKNOWN', file, 'gzip of neither OSV JSON/NDJSON, Alpine secdb, Debian tracker JSON, npm advisory, EPSS CSV nor KEV JSON')
      return
    }
    const single = format === 'osv-json' && !text.startsWith('[')
    const cap = single ? limits.maxRecordBytes : limits.maxFileBytes
    const parts: Buffer[] = []
    let size = 0
    for await (const chunk of rest) {
      size += chunk.byteLength
      if (size > cap) {
        yield recordError('ERR_FEED_RECORD_TOO_LARGE', file, `gzip inflates past the ${cap}-byte ${single ? 'record' : 'file'} limit; not read`)
        return
      }
      parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    }
    let json: unknown
    try {
      json = JSON.parse(Buffer.concat(parts).toString('utf8').replace(/^\uFEFF/, ''))
    } catch (err) {
      yield recordError('ERR_FEED_INVALID', file, `invalid JSON: ${(err as Error).message}`)
      return
    }
    parts.length = 0
    yield* fromJson(json, format === 'json-unknown' ? undefined : format, file)
  } catch (err) {
    yield recordError('ERR_FEED_UNREADABLE', file, `gzip: ${(err as Error).message}`)
  } finally {
    stop()
  }
}

/**
 * osv.dev's per-ecosystem `all.zip`, streamed with fflate so memory stays at one entry: an entry
 * past the record limit is abandoned mid-stream; a zip cut short (no end of central directory,
 * or an entry that never finished) is reported after the complete entries are imported.
 */
async function* readZip(file: string, limits: ReadLimits): AsyncGenerator<ReadItem> {
  const queue: ReadItem[] = []
  const open = new Set<string>()
  const unzip = new Unzip((entry) => {
    if (entry.name.endsWith('/')) return
    if (!/\.json$/i.test(entry.name)) return
    if (entry.originalSize !== undefined && entry.originalSize > limits.maxRecordBytes) {
      queue.push(recordError('ERR_FEED_RECORD_TOO_LARGE', `${file}!${entry.name}`, `entry is ${entry.originalSize} bytes, over the ${limits.maxRecordBytes}-byte record limit; skipped`))
      return
    }
    const parts: Uint8Array[] = []
    let size = 0
    open.add(entry.name)
    entry.ondata = (err, chunk, final) => {
      const where = `${file}!${entry.name}`
      if (err) {
        open.delete(entry.name)
        const tooLarge = (err as { tooLarge?: boolean }).tooLarge === true
        queue.push(recordError(tooLarge ? 'ERR_FEED_RECORD_TOO_LARGE' : 'ERR_FEED_UNREADABLE', where, tooLarge ? `${err.message}; skipped` : `zip entry: ${err.message}`))
        return
      }
      size += chunk.length
      if (size > limits.maxRecordBytes) {
        open.delete(entry.name)
        entry.terminate()
        queue.push(recordError('ERR_FEED_RECORD_TOO_LARGE', where, `entry is over the ${limits.maxRecordBytes}-byte record limit; skipped`))
        return
      }
      parts.push(chunk)
      if (!final) return
      open.delete(entry.name)
      try {
        const json: unknown = JSON.parse(Buffer.concat(parts).toString('utf8'))
        queue.push(...osvToItems(json, where))
      } catch (err) {
        queue.push(recordError('ERR_FEED_INVALID', where, `invalid JSON: ${(err as Error).message}`))
      }
    }
    entry.start()
  })
  unzip.register(nativeInflate(limits.maxRecordBytes))
  let tail = Buffer.alloc(0)
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      const buf = chunk as Buffer
      tail = Buffer.concat([tail, buf]).subarray(-65_557)
      unzip.push(buf, false)
      yield* queue.splice(0)
    }
    unzip.push(new Uint8Array(0), true)
  } catch (err) {
    yield* queue.splice(0)
    yield recordError('ERR_FEED_UNREADABLE', file, `zip is truncated or corrupt (${(err as Error).message}); complete entries were imported`)
    return
  }
  yield* queue.splice(0)
  // End of central directory record: absent when the download was cut short.
  const hasEocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06])) >= 0
  if (!hasEocd || open.size > 0) {
    const cut = [...open].join(', ')
    yield recordError('ERR_FEED_UNREADABLE', file, `zip is truncated${cut ? ` (incomplete entries: ${cut})` : ' (no end of central directory)'}; complete entries were imported`)
  }
}
