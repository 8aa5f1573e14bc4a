import { VigilError } from '../../errors.js'
import { type Elf, sectionBytes } from './elf.js'
import { inflateBounded } from './zip.js'
import { isRecord, str, utf8 } from './common.js'

/** cargo-auditable's dependency list: the `.dep-v0` section, zlib-compressed JSON. */

const MAX_JSON = 64 * 1024 * 1024

export interface AuditedCrate {
  name: string
  version: string
}

export function readRustAudit(bytes: Uint8Array, elf: Elf, where: string): AuditedCrate[] | undefined {
  const section = sectionBytes(bytes, elf, '.dep-v0')
  if (!section) return undefined
  // The JSON is a few KiB per hundred crates; a section claiming more is refused before inflating.
  if (section.length > MAX_JSON / 8) throw new VigilError('ERR_ARCHIVE_BOMB', `${where}: .dep-v0 section is implausibly large`)
  let json: unknown
  try {
    const out = inflateBounded(section, MAX_JSON, true)
    if (!out) throw new VigilError('ERR_ARCHIVE_BOMB', `${where}: .dep-v0 inflates past ${MAX_JSON} bytes`)
    json = JSON.parse(utf8(out))
  } catch (err) {
    if (VigilError.is(err) && err.code === 'ERR_ARCHIVE_BOMB') throw err
    throw new VigilError('ERR_PKGDB_CORRUPT', `${where}: .dep-v0 is not zlib-compressed JSON`, { cause: err })
  }
  if (!isRecord(json) || !Array.isArray(json.packages)) throw new VigilError('ERR_PKGDB_CORRUPT', `${where}: .dep-v0 has no packages`)
  const crates: AuditedCrate[] = []
  for (const p of json.packages) {
    if (!isRecord(p)) continue
    // Build-time-only crates (build scripts, proc macros) are not shipped code; the binary's own
    // crate (root) is kept, as Trivy does.
    if (p.kind !== undefined && p.kind !== 'runtime') continue
    const name = str(p.name)
    const version = str(p.version)
    if (name && version) crates.push({ name, version })
  }
  return crates
}
