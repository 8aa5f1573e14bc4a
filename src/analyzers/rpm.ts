import { VigilError } from '../errors.js'
import type { Package } from '../types.js'
import { bdbBlobs, isBdb } from './rpmdb/bdb.js'
import { parseRpmHeader, type RpmHeader } from './rpmdb/header.js'
import { parseRpmManifest } from './rpmdb/manifest.js'
import { isNdb, ndbBlobs } from './rpmdb/ndb.js'
import { isSqlite, sqliteBlobs } from './rpmdb/sqlite.js'
import type { Analyzer, AnalyzerResult, FileInfo } from './types.js'

/**
 * The rpm package database in any of its three backends. The backend is chosen by the file's
 * magic, not its name, so a renamed or misplaced database is still read correctly.
 */

const DB_DIRS = ['var/lib/rpm/', 'usr/lib/sysimage/rpm/', 'usr/share/rpm/']
const DB_FILES = new Set(['Packages', 'Packages.db', 'rpmdb.sqlite'])

function matchRpmDb(file: FileInfo): boolean {
  const slash = file.path.lastIndexOf('/')
  if (slash < 0 || !DB_FILES.has(file.path.slice(slash + 1))) return false
  const dir = file.path.slice(0, slash + 1)
  return DB_DIRS.includes(dir)
}

async function headerBlobs(bytes: Uint8Array): Promise<Uint8Array[]> {
  if (isSqlite(bytes)) return sqliteBlobs(bytes)
  if (isNdb(bytes)) return ndbBlobs(bytes)
  if (isBdb(bytes)) return bdbBlobs(bytes)
  throw new VigilError('ERR_PKGDB_CORRUPT', 'rpm database: not SQLite, NDB or Berkeley DB')
}

/** `util-linux-2.32.1-42.el8_8.src.rpm` → name `util-linux`, version `2.32.1-42.el8_8`. */
export function splitSourceRpm(sourceRpm: string): { name: string; version: string } | undefined {
  const base = sourceRpm.endsWith('.src.rpm') ? sourceRpm.slice(0, -8) : sourceRpm.endsWith('.nosrc.rpm') ? sourceRpm.slice(0, -10) : undefined
  if (base === undefined) return undefined
  const rel = base.lastIndexOf('-')
  const ver = rel > 0 ? base.lastIndexOf('-', rel - 1) : -1
  if (ver <= 0) return undefined
  return { name: base.slice(0, ver), version: base.slice(ver + 1) }
}

export function rpmPackage(h: RpmHeader, path: string): Package {
  const evr = `${h.version}-${h.release}`
  const source = h.sourceRpm ? splitSourceRpm(h.sourceRpm) : undefined
  const epoch = h.epoch !== undefined && h.epoch > 0 ? h.epoch : undefined
  return {
    ecosystem: '',
    name: h.name,
    // The full comparable string: what `vigil version compare rpm` and the matcher take.
    version: epoch !== undefined ? `${epoch}:${evr}` : evr,
    release: h.release,
    ...(epoch !== undefined ? { epoch } : {}),
    ...(source ? { source } : {}),
    ...(h.arch ? { arch: h.arch } : {}),
    ...(h.license ? { licenses: [h.license] } : {}),
    ...(h.modularityLabel ? { modularityLabel: h.modularityLabel } : {}),
    purl: '',
    path,
    kind: 'os',
  }
}

export const rpmAnalyzer: Analyzer = {
  name: 'rpm',
  version: 1,
  kind: 'os',
  // Big Fedora / RHEL Berkeley DB files reach ~100 MB; past this a file is not a real rpmdb.
  maxBytes: 256 * 1024 * 1024,
  match: matchRpmDb,
  async parse(bytes, ctx): Promise<AnalyzerResult> {
    // Empty placeholder files (syft's glob fixtures, half-built images) hold no packages.
    if (bytes.length === 0) return {}
    const packages: Package[] = []
    const ownedFiles: string[] = []
    for (const blob of await headerBlobs(bytes)) {
      const h = parseRpmHeader(blob)
      // Imported signing keys are stored as packages; they are not software (Trivy skips them too).
      if (h.name === 'gpg-pubkey') continue
      packages.push(rpmPackage(h, ctx.path))
      for (const f of h.files) ownedFiles.push(f)
    }
    return { packages, ownedFiles }
  },
}

const MANIFEST_PATH = 'var/lib/rpmmanifest/container-manifest-2'

export const rpmManifestAnalyzer: Analyzer = {
  name: 'rpm-manifest',
  version: 1,
  kind: 'os',
  maxBytes: 16 * 1024 * 1024,
  match: (file: FileInfo) => file.path === MANIFEST_PATH,
  parse(bytes, ctx): AnalyzerResult {
    return { packages: parseRpmManifest(bytes, ctx.path).map((h) => rpmPackage(h, ctx.path)) }
  },
}
