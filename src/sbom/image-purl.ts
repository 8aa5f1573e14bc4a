import { parseTarget } from '../image/reference.js'
import type { ImageInfo } from '../types.js'
import { makePurl } from './purl.js'

/**
 * The image as an `oci` purl (purl spec: name = last repository segment, version = manifest
 * digest, repository_url and tag as qualifiers). Only registry references have a repository;
 * an OCI layout or archive gets the purl without one.
 */
export function imagePurl(image: ImageInfo): string {
  let name = 'image'
  let qualifiers: Record<string, string | undefined> = {}
  try {
    const t = parseTarget(image.reference)
    if (t.kind === 'registry') {
      name = t.repository.split('/').pop() ?? name
      qualifiers = { repository_url: `${t.registry.replace('registry-1.docker.io', 'docker.io')}/${t.repository}`, tag: t.tag }
    } else if (t.kind === 'oci') {
      name = basename(t.dir)
      qualifiers = { tag: t.tag }
    } else {
      name = basename(t.path)
    }
  } catch {
    // A reference Vigil cannot parse (an SBOM's free-text name) still gets a purl by digest.
  }
  const safe = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'image'
  return makePurl('oci', undefined, safe, image.digest, qualifiers)
}

function basename(p: string): string {
  return p.replace(/[/\\]+$/, '').split(/[/\\]/).pop() ?? p
}
