/**
 * Registry-side helpers for the Harbor tests: manifest digests as the registry serves them
 * (skopeo inspect --raw, hashed here), and byte-wise secret searches over directories.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface ManifestInfo {
  digest: string
  mediaType: string
  /** For an index: its children (digest, media type, platform). */
  children: { digest: string; mediaType: string; platform: string }[]
}

export async function inspectManifest(host: string, repoTag: string, creds: string): Promise<ManifestInfo> {
  const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', creds, `docker://${host}/${repoTag}`], { encoding: 'buffer', maxBuffer: 4 * 1024 * 1024 })
  const bytes = stdout as unknown as Buffer
  const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: { digest: string; mediaType: string; platform?: { os: string; architecture: string; variant?: string } }[] }
  return {
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    mediaType: doc.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
    children: (doc.manifests ?? []).map((m) => ({
      digest: m.digest,
      mediaType: m.mediaType,
      platform: m.platform ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/') : '',
    })),
  }
}

/** Files under `dir` (recursively) whose bytes contain any of `needles`, with the needle found. */
export function filesContaining(dir: string, needles: readonly string[]): { file: string; needle: string }[] {
  const hits: { file: string; needle: string }[] = []
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile() && statSync(p).size < 1024 ** 3) {
        const bytes = readFileSync(p)
        for (const n of needles) if (bytes.includes(Buffer.from(n))) hits.push({ file: p, needle: n.slice(0, 6) + '…' })
      }
    }
  }
  walk(dir)
  return hits
}
