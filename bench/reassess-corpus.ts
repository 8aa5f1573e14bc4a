/**
 * Debian bases for the re-assessment bench from the corpus images (~/.cache/vigil-corpus): the
 * dpkg status file of each OCI layout's last layer that has one. Read with tar-stream directly
 * rather than through src/layers so the bench does not depend on the scan pipeline's progress.
 */
import { createReadStream, existsSync, readFileSync, readdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import type { OsInfo } from '../src/types.js'
import { parseDpkgStatus, type Base } from './reassess-fleet.js'

export const CORPUS = process.env.VIGIL_CORPUS ?? join(homedir(), '.cache/vigil-corpus')

function blob(oci: string, digest: string): string {
  return join(oci, 'blobs', ...digest.split(':'))
}

async function statusIn(layer: string, gzipped: boolean): Promise<string | undefined> {
  const extract = tar.extract()
  let found: string | undefined
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const name = header.name.replace(/^\.?\//, '')
      if (name === 'var/lib/dpkg/status' && header.type === 'file') {
        const chunks: Buffer[] = []
        stream.on('data', (c: unknown) => {
          chunks.push(c as Buffer)
        })
        stream.on('end', () => {
          found = Buffer.concat(chunks).toString('utf8')
          next()
        })
      } else {
        stream.on('end', next)
        stream.resume()
      }
    })
    extract.on('finish', resolve)
    extract.on('error', reject)
  })
  const source = createReadStream(layer)
  ;(gzipped ? source.pipe(createGunzip()) : source).pipe(extract)
  await done
  return found
}

export async function corpusBases(): Promise<Base[]> {
  if (!existsSync(CORPUS)) return []
  const os: OsInfo = { family: 'debian', version: '12', ecosystem: 'Debian:12' }
  const bases: Base[] = []
  for (const name of readdirSync(CORPUS).sort()) {
    const oci = join(CORPUS, name, 'oci')
    if (!existsSync(join(oci, 'index.json'))) continue
    const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string }[] }
    const first = index.manifests[0]
    if (!first || !first.mediaType.includes('manifest')) continue
    const manifest = JSON.parse(readFileSync(blob(oci, first.digest), 'utf8')) as { layers: { digest: string; mediaType: string }[] }
    let status: string | undefined
    for (const layer of manifest.layers) status = (await statusIn(blob(oci, layer.digest), layer.mediaType.endsWith('gzip'))) ?? status
    if (status) bases.push({ name, os, packages: parseDpkgStatus(status, os) })
  }
  return bases
}
