import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'

/** Small tars built in memory for archive edge cases (each is a real tar, read back by real code). */
export type TarEntry = { name: string; data: Buffer | string } | { name: string; symlink: string } | { name: string; dir: true }

export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const p = pack()
  for (const e of entries) {
    if ('data' in e) p.entry({ name: e.name, mode: 0o644, mtime: new Date(0) }, Buffer.from(e.data))
    else if ('symlink' in e) p.entry({ name: e.name, type: 'symlink', linkname: e.symlink, mtime: new Date(0) })
    else p.entry({ name: e.name, type: 'directory', mode: 0o755, mtime: new Date(0) })
  }
  p.finalize()
  const chunks: Buffer[] = []
  for await (const c of p) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

export const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`

export interface LegacyArchiveParts {
  layers: Buffer[]
  /** Name of each layer inside the archive; a second use of the same name becomes a symlink. */
  layerNames?: string[]
  gzipLayers?: boolean
  diffIds?: string[]
  configName?: string
}

/** A legacy `docker save` archive: manifest.json, <hex>.json config, <id>/layer.tar members. */
export async function makeLegacyArchive(parts: LegacyArchiveParts): Promise<{ tar: Buffer; config: Buffer; diffIds: string[] }> {
  const diffIds = parts.diffIds ?? parts.layers.map((l) => sha(l))
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, history: diffIds.map(() => ({ created_by: 'test' })) }))
  const configName = parts.configName ?? `${sha(config).slice(7)}.json`
  const names = parts.layerNames ?? parts.layers.map((_, i) => `${String(i).padStart(64, 'a')}/layer.tar`)
  const entries: TarEntry[] = []
  const seen = new Set<string>()
  names.forEach((name, i) => {
    if (seen.has(name)) return
    seen.add(name)
    const body = parts.gzipLayers ? gzipSync(parts.layers[i]!) : parts.layers[i]!
    entries.push({ name, data: body })
  })
  entries.push({ name: configName, data: config })
  entries.push({ name: 'manifest.json', data: JSON.stringify([{ Config: configName, RepoTags: ['test/img:1'], Layers: names }]) })
  return { tar: await makeTar(entries), config, diffIds }
}
