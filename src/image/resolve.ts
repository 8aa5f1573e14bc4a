import { VigilError } from '../errors.js'
import { resolveDockerArchive } from './docker-archive.js'
import { resolveOciLayout } from './oci-layout.js'
import { formatTarget, parseTarget, type Target } from './reference.js'
import { resolveRegistry } from './registry.js'
import type { ResolvedImage, ResolveOptions } from './types.js'

/**
 * From a target (DESIGN.md syntax, or already parsed) to the image's manifest digest, config and
 * layer locators, without reading any layer. `sbom:` targets hold no image: `vigil scan` reads
 * those itself, so here they are an input error.
 */
export async function resolveImage(target: string | Target, opts: ResolveOptions = {}): Promise<ResolvedImage> {
  const t = typeof target === 'string' ? parseTarget(target) : target
  const reference = typeof target === 'string' ? target : formatTarget(t)
  switch (t.kind) {
    case 'oci':
      return resolveOciLayout(t.dir, t.tag, opts, reference)
    case 'docker-archive':
      return resolveDockerArchive(t.path, opts, reference)
    case 'registry':
      return resolveRegistry(t, opts, reference)
    case 'sbom':
      throw new VigilError('ERR_TARGET_INVALID', `${reference} is an SBOM, not an image: only \`vigil scan\` takes sbom: targets`)
    case 'dir':
    case 'rootfs':
      throw new VigilError('ERR_TARGET_INVALID', `${reference} is a local filesystem, not an image: only \`vigil scan\` and \`vigil sbom\` read ${t.kind}: targets`)
  }
}
