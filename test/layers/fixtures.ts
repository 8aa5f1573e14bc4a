import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable, Transform, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import tar from 'tar-stream'
import { CompressStream } from 'zstd-napi'
import type { Analyzer } from '../../src/analyzers/types.js'
import type { LayerRef } from '../../src/image/types.js'
import { asDigest } from '../../src/types.js'

export type Compression = 'gzip' | 'zstd' | 'none'

export interface EntrySpec {
  name: string
  type?: 'file' | 'directory' | 'symlink' | 'link'
  content?: string | Buffer
  linkname?: string
  /** Stream this many zero bytes as the content (never held in memory). */
  zeros?: number
}

const MEDIA: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
}

export async function tempDir(prefix = 'vigil-layers-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** A tar stream of the entries, produced lazily (a `zeros` entry of 1 GiB costs one 1 MiB buffer). */
export function tarStream(entries: EntrySpec[]): Readable {
  const pack = tar.pack()
  void (async () => {
    for (const e of entries) {
      const type = e.type ?? 'file'
      if (e.zeros !== undefined) {
        const sink = pack.entry({ name: e.name, size: e.zeros, type: 'file' })
        const block = Buffer.alloc(1024 * 1024)
        for (let left = e.zeros; left > 0; left -= block.length) {
          const chunk = left >= block.length ? block : block.subarray(0, left)
          if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()))
        }
        await new Promise<void>((resolve, reject) => sink.end((err?: Error | null) => (err ? reject(err) : resolve())))
      } else if (type === 'file') {
        await new Promise<void>((resolve, reject) => pack.entry({ name: e.name, mode: 0o644 }, e.content ?? '', (err) => (err ? reject(err) : resolve())))
      } else {
        pack.entry({ name: e.name, type, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) })
      }
    }
    pack.finalize()
  })().catch((err: Error) => pack.destroy(err))
  return pack as unknown as Readable
}

export function compressor(compression: Compression): Transform {
  if (compression === 'gzip') return createGzip({ level: 1 })
  if (compression === 'zstd') return new CompressStream() as unknown as Transform
  return new PassThrough()
}

/** Writes the layer blob to `dir`, hashing as it goes, and returns a LayerRef to it. */
export async function writeLayer(dir: string, entries: EntrySpec[] | Readable, compression: Compression, name = `layer-${Math.random().toString(36).slice(2)}`): Promise<LayerRef & { path: string; bytes: number }> {
  const path = join(dir, name)
  const hash = createHash('sha256')
  let bytes = 0
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk)
      bytes += chunk.length
      cb(null, chunk)
    },
  })
  const source = Array.isArray(entries) ? tarStream(entries) : entries
  await pipeline(source, compressor(compression), tap, createWriteStream(path) as Writable)
  const digest = asDigest(`sha256:${hash.digest('hex')}`)
  return { digest, mediaType: MEDIA[compression], compression: 'auto', size: bytes, locator: { kind: 'file', path }, path, bytes }
}

/** Writes raw bytes as a blob (for corrupt-input cases) with their true digest. */
export async function writeBlob(dir: string, bytes: Uint8Array, mediaType: string, name = `blob-${Math.random().toString(36).slice(2)}`): Promise<LayerRef> {
  const path = join(dir, name)
  await writeFile(path, bytes)
  return { digest: asDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`), mediaType, compression: 'auto', size: bytes.length, locator: { kind: 'file', path } }
}

/** A stand-in OS analyzer: matches the dpkg status path and reports its byte count. */
export const statusProbe: Analyzer = {
  name: 'status-probe',
  version: 1,
  kind: 'os',
  maxBytes: 1024 * 1024,
  match: (f) => f.path === 'var/lib/dpkg/status' || f.path.startsWith('var/lib/dpkg/status.d/'),
  parse: (bytes, ctx) => ({
    packages: Buffer.from(bytes)
      .toString('utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => {
        const [name = '', version = ''] = l.split('=')
        return { ecosystem: '', name, version, purl: '', path: ctx.path, kind: 'os' as const }
      }),
  }),
}
