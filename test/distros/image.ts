import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeLayer, type EntrySpec } from '../layers/fixtures.js'

/**
 * Writes a one-layer OCI image layout at `dir` holding `entries` (real package databases and
 * release files), so a distro test goes through the same resolve → layers → analyzers →
 * finalize path as a pulled image.
 */
export async function writeOciImage(dir: string, entries: EntrySpec[]): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256')
  await mkdir(blobs, { recursive: true })
  const layer = await writeLayer(dir, entries, 'gzip')
  await rename(layer.path, join(blobs, layer.digest.slice('sha256:'.length)))
  const blob = async (bytes: Buffer, mediaType: string) => {
    const hex = createHash('sha256').update(bytes).digest('hex')
    await writeFile(join(blobs, hex), bytes)
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length }
  }
  const diffId = createHash('sha256').update(await gunzipped(join(blobs, layer.digest.slice('sha256:'.length)))).digest('hex')
  const config = await blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] }, config: {} })), 'application/vnd.oci.image.config.v1+json')
  const manifest = await blob(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config,
    layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
  })), 'application/vnd.oci.image.manifest.v1+json')
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [manifest] }))
  return `oci:${dir}`
}

async function gunzipped(path: string): Promise<Buffer> {
  const { gunzipSync } = await import('node:zlib')
  return gunzipSync(await readFile(path))
}
