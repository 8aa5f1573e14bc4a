import { VigilError, type ErrorRecord } from '../errors.js'
import type { Package } from '../types.js'
import type { Analyzer, FileInfo } from './types.js'
import { baseName, dedupe, langPackage, utf8 } from './lang/common.js'
import { type InflateBudget, readZipDirectory, readZipEntry, type ZipEntry } from './lang/zip.js'

/**
 * Nested archives deeper than this are not opened (Spring Boot puts jars one level down); the
 * archives above them still count, and the skipped one is named in the result's warnings.
 */
export const MAX_JAR_DEPTH = 4
/** Bytes that may be inflated for one archive in the image, nested archives included. */
export const JAR_INFLATE_BUDGET = 512 * 1024 * 1024

// Both cases spelled out: match() runs for every file, so no per-call toLowerCase().
const ARCHIVE_SUFFIXES = ['.jar', '.war', '.ear', '.par', '.JAR', '.WAR', '.EAR', '.PAR'] as const

function isJavaArchive(name: string): boolean {
  const n = name.length
  if (n < 5 || name.charCodeAt(n - 4) !== 0x2e) return false
  for (const s of ARCHIVE_SUFFIXES) if (name.endsWith(s)) return true
  return false
}

/**
 * Java archives (jar / war / ear / par), nested ones included. Every valid
 * `META-INF/maven/**\/pom.properties` is a package. MANIFEST.MF names the archive only when it
 * holds no pom.properties at all and the manifest yields a group, artifact and version (Trivy's
 * offline precedence: Implementation-Vendor-Id, Bundle-SymbolicName, ... ).
 */
export const javaArchiveAnalyzer: Analyzer = {
  name: 'java-archive',
  version: 2,
  kind: 'lang',
  maxBytes: 512 * 1024 * 1024,
  match(file: FileInfo): boolean {
    return isJavaArchive(file.path)
  },
  parse(bytes, ctx) {
    const warnings: ErrorRecord[] = []
    const packages = parseJavaArchive(bytes, ctx.path, JAR_INFLATE_BUDGET, warnings)
    return warnings.length ? { packages, warnings } : { packages }
  },
}

/**
 * All packages of one archive file; `budgetBytes` bounds what its (nested) entries may inflate to.
 * Throws only when the archive itself cannot be read; an entry or nested archive that cannot be
 * (corrupt, too deep, past the budget) is skipped and named in `warnings`.
 */
export function parseJavaArchive(bytes: Uint8Array, path: string, budgetBytes = JAR_INFLATE_BUDGET, warnings: ErrorRecord[] = []): Package[] {
  const budget: InflateBudget = { remaining: budgetBytes }
  const packages: Package[] = []
  for (const id of parseArchive(bytes, path, 0, budget, warnings)) {
    packages.push(langPackage('Maven', `${id.groupId}:${id.artifactId}`, id.version, path))
  }
  return dedupe(packages)
}

export interface MavenId {
  groupId: string
  artifactId: string
  version: string
}

/** Reads one entry, or records why it cannot be read and returns undefined. */
function entryBytes(bytes: Uint8Array, entry: ZipEntry, budget: InflateBudget, where: string, warnings: ErrorRecord[]): Uint8Array | undefined {
  try {
    return readZipEntry(bytes, entry, budget, where)
  } catch (err) {
    if (!VigilError.is(err)) throw err
    warnings.push({ ...err.toRecord(), message: `${err.message}; skipped` })
    return undefined
  }
}

function parseArchive(bytes: Uint8Array, where: string, depth: number, budget: InflateBudget, warnings: ErrorRecord[]): MavenId[] {
  const ids: MavenId[] = []
  let ownPoms = 0
  let manifest: Map<string, string> | undefined
  for (const entry of readZipDirectory(bytes, where)) {
    if (entry.name.endsWith('/')) continue
    // Once the budget is spent every further read would fail the same way: one warning says so.
    if (budget.remaining <= 0) {
      warnings.push({ code: 'ERR_ARCHIVE_BOMB', message: `${where}: the ${JAR_INFLATE_BUDGET}-byte inflate budget is spent; its remaining entries were not read`, retryable: false })
      break
    }
    const base = baseName(entry.name)
    if (base === 'pom.properties') {
      const raw = entryBytes(bytes, entry, budget, where, warnings)
      const id = raw && pomProperties(utf8(raw))
      if (!id) continue
      ids.push(id)
      ownPoms++
    } else if (entry.name === 'META-INF/MANIFEST.MF') {
      const raw = entryBytes(bytes, entry, budget, where, warnings)
      if (raw) manifest = manifestAttributes(utf8(raw))
    } else if (isJavaArchive(entry.name)) {
      const inner = `${where}!${entry.name}`
      if (depth + 1 > MAX_JAR_DEPTH) {
        warnings.push({ code: 'ERR_ARCHIVE_BOMB', message: `${inner}: archives nested deeper than ${MAX_JAR_DEPTH} are not opened; skipped`, retryable: false, details: { entry: inner } })
        continue
      }
      const raw = entryBytes(bytes, entry, budget, where, warnings)
      if (!raw) continue
      try {
        ids.push(...parseArchive(raw, inner, depth + 1, budget, warnings))
      } catch (err) {
        // A broken library inside a war does not hide the rest of it (Trivy skips it too).
        if (!VigilError.is(err)) throw err
        warnings.push({ ...err.toRecord(), message: `${err.message}; skipped` })
      }
    }
  }
  // Trivy (online) keeps a manifest identity only when its Java DB confirms the coordinates; with
  // no such index, Vigil trusts the manifest only for archives without any pom.properties, since a
  // manifest beside one names the same library by its display title ("Apache Log4j Core").
  if (ownPoms === 0 && manifest) {
    const id = manifestId(manifest)
    if (id) ids.push(id)
  }
  return ids
}

/** Java properties, only the `key=value` / `key: value` lines Maven writes. */
export function pomProperties(text: string): MavenId | undefined {
  const props = new Map<string, string>()
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue
    const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line)
    if (m?.[1]) props.set(m[1], (m[2] ?? '').trim())
  }
  const groupId = props.get('groupId')
  const artifactId = props.get('artifactId')
  const version = props.get('version')
  return groupId && artifactId && version ? { groupId, artifactId, version } : undefined
}

/** MANIFEST.MF main attributes; continuation lines (leading space) are joined. */
export function manifestAttributes(text: string): Map<string, string> {
  const attrs = new Map<string, string>()
  let last: string | undefined
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break // end of the main section
    if (line.startsWith(' ') && last) {
      attrs.set(last, (attrs.get(last) ?? '') + line.slice(1))
      continue
    }
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    last = line.slice(0, colon).trim()
    attrs.set(last, line.slice(colon + 1).trim())
  }
  return attrs
}

/** Trivy's precedence for naming an archive from its manifest. */
export function manifestId(attrs: Map<string, string>): MavenId | undefined {
  const get = (k: string): string => (attrs.get(k) ?? '').trim()
  const bsn = get('Bundle-SymbolicName').split(';')[0]?.trim() ?? ''
  const bsnGroup = bsn.lastIndexOf('.') > 0 ? bsn.slice(0, bsn.lastIndexOf('.')) : bsn
  const groupId = get('Implementation-Vendor-Id') || bsnGroup || get('Implementation-Vendor') || get('Specification-Vendor')
  const artifactId = get('Implementation-Title') || get('Specification-Title') || get('Bundle-Name')
  const version = get('Implementation-Version') || get('Specification-Version') || get('Bundle-Version')
  return groupId && artifactId && version ? { groupId: groupId.trim(), artifactId: artifactId.trim(), version: version.trim() } : undefined
}
