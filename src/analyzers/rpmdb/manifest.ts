import { VigilError } from '../../errors.js'
import type { RpmHeader } from './header.js'

/**
 * `var/lib/rpmmanifest/container-manifest-2`: what CBL-Mariner / Azure Linux distroless images
 * ship instead of an rpm database, one tab-separated line per package:
 * name, version-release, install time, build time, vendor, epoch or `(none)`, size, arch,
 * epoch again, source rpm. It lists no files.
 */
export function parseRpmManifest(bytes: Uint8Array, path: string): RpmHeader[] {
  if (bytes.includes(0)) throw new VigilError('ERR_PKGDB_CORRUPT', `${path}: binary data in an rpm manifest`)
  const out: RpmHeader[] = []
  let lineNo = 0
  for (const line of new TextDecoder().decode(bytes).split('\n')) {
    lineNo++
    if (line.trim() === '') continue
    const cols = line.split('\t')
    const [name, vr, , , , epoch, , arch, , sourceRpm] = cols
    const dash = vr?.lastIndexOf('-') ?? -1
    if (cols.length < 10 || !name || !vr || dash <= 0) {
      throw new VigilError('ERR_PKGDB_CORRUPT', `${path}:${lineNo}: not a container-manifest-2 line`)
    }
    const epochNumber = epoch && epoch !== '(none)' ? Number(epoch) : undefined
    out.push({
      name,
      version: vr.slice(0, dash),
      release: vr.slice(dash + 1),
      ...(epochNumber !== undefined && Number.isInteger(epochNumber) ? { epoch: epochNumber } : {}),
      ...(arch && arch !== '(none)' ? { arch } : {}),
      ...(sourceRpm && sourceRpm !== '(none)' ? { sourceRpm } : {}),
      files: [],
    })
  }
  return out
}
