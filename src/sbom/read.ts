import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import type { PackageURL } from 'packageurl-js'
import { VigilError } from '../errors.js'
import { isDigest, type Digest, type ImageInfo, type Inventory, type OsInfo, type Package, type SourcePackage } from '../types.js'
import { LANGUAGE_PURL_TYPES, OS_PURL_TYPES, languagePackageName, osEcosystem, osFromPurl } from './ecosystems.js'
import { parsePurl } from './purl.js'
import { splitSourceRpm } from '../analyzers/rpm.js'
import { readCycloneDxEntries } from './read-cyclonedx.js'
import { readSpdxEntries } from './read-spdx.js'
import { invalid, type SbomEntries, type SbomEntry } from './read-types.js'

export type { SbomEntries, SbomEntry } from './read-types.js'

/**
 * CycloneDX JSON (1.2–1.7) or SPDX 2.x JSON → Inventory, for `vigil scan sbom:FILE`. Both readers
 * reduce the document to `SbomEntries` (one entry per component that has a purl, plus what the
 * document says about the image and the OS); this file turns those into Vigil packages.
 * Vigil's own `vigil:*` facts and Trivy's `aquasecurity:trivy:*` ones are read where present.
 */

export interface SbomReadResult {
  inventory: Inventory
  format: 'cyclonedx' | 'spdx'
  specVersion: string
  /** Components left out, with why (no purl type Vigil knows, unparsable purl). */
  skipped: { ref: string; reason: string }[]
}

/** Refuse absurd inputs before JSON.parse builds them in memory. */
export const MAX_SBOM_BYTES = 256 * 1024 * 1024

export async function readSbomFile(path: string): Promise<SbomReadResult> {
  let bytes: Buffer
  try {
    const size = (await stat(path)).size
    if (size > MAX_SBOM_BYTES) throw invalid(basename(path), `larger than ${MAX_SBOM_BYTES} bytes`)
    bytes = await readFile(path)
  } catch (err) {
    if (VigilError.is(err)) throw err
    throw new VigilError('ERR_TARGET_NOT_FOUND', `cannot read SBOM ${path}: ${(err as Error).message}`, { cause: err })
  }
  return parseSbom(bytes, { name: basename(path) })
}

export function parseSbom(input: Uint8Array | string, options: { name?: string } = {}): SbomReadResult {
  const bytes = typeof input === 'string' ? Buffer.from(input) : Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  const name = options.name ?? 'sbom'
  if (bytes.length > MAX_SBOM_BYTES) throw invalid(name, `larger than ${MAX_SBOM_BYTES} bytes`)
  let doc: unknown
  try {
    // Some Windows tools write a UTF-8 byte order mark, which JSON.parse rejects.
    doc = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, ''))
  } catch (err) {
    throw invalid(name, `not JSON (${(err as Error).message}); only the JSON forms of CycloneDX and SPDX are read`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(name, 'not a JSON object')
  const d = doc as Record<string, unknown>
  let parsed: SbomEntries
  if (d.bomFormat === 'CycloneDX') parsed = readCycloneDxEntries(d, name)
  else if (typeof d.spdxVersion === 'string' && d.spdxVersion.startsWith('SPDX-2.')) parsed = readSpdxEntries(d, name)
  else throw invalid(name, 'neither CycloneDX (bomFormat) nor SPDX 2.x (spdxVersion)')
  return toInventory(parsed, bytes, name)
}

const first = (facts: Map<string, string[]>, key: string): string | undefined => facts.get(key)?.[0]
const digestOrUndefined = (v: string | undefined): Digest | undefined => (v && isDigest(v) ? v : undefined)

function toInventory(sbom: SbomEntries, bytes: Buffer, name: string): SbomReadResult {
  const skipped: SbomReadResult['skipped'] = []
  let os: OsInfo | undefined = sbom.os ? osInfo(sbom.os) : undefined
  const parsed: { entry: SbomEntry; purl: PackageURL }[] = []
  for (const entry of sbom.entries) {
    try {
      parsed.push({ entry, purl: parsePurl(entry.purl) })
    } catch (err) {
      skipped.push({ ref: entry.ref, reason: `invalid purl ${entry.purl}: ${(err as Error).message}` })
    }
  }
  // No operating-system component: the first OS package's purl names the distro and release.
  for (const { purl } of parsed) {
    if (os) break
    os = osFromPurl(purl)
  }
  const packages: Package[] = []
  for (const { entry, purl } of parsed) {
    const pkg = toPackage(entry, purl, os)
    if (typeof pkg === 'string') skipped.push({ ref: entry.ref, reason: pkg })
    else packages.push(pkg)
  }
  const inventory: Inventory = {
    v: 1,
    image: imageInfo(sbom, bytes, name),
    ...(os ? { os } : {}),
    packages,
    analyzerSet: first(sbom.image.facts, 'analyzer-set') ?? `sbom:${sbom.format}-${sbom.specVersion}`,
    createdAt: first(sbom.image.facts, 'inventory:created') ?? new Date().toISOString(),
  }
  return { inventory, format: sbom.format, specVersion: sbom.specVersion, skipped }
}

function osInfo(os: NonNullable<SbomEntries['os']>): OsInfo {
  const family = os.family.toLowerCase()
  const version = os.version ?? ''
  return {
    family,
    version,
    ecosystem: first(os.facts, 'ecosystem') ?? osEcosystem(family, version),
    ...(first(os.facts, 'pretty-name') ? { prettyName: first(os.facts, 'pretty-name') } : {}),
  }
}

/**
 * The image's identity: the manifest digest the SBOM names (Vigil's own, or Trivy's RepoDigest),
 * else the SHA-256 of the SBOM file itself, so one document always maps to one stored inventory.
 */
function imageInfo(sbom: SbomEntries, bytes: Buffer, name: string): ImageInfo {
  const f = sbom.image.facts
  const repoDigest = first(f, 'RepoDigest')?.split('@')[1]
  const digest = digestOrUndefined(first(f, 'image:digest')) ?? digestOrUndefined(repoDigest) ?? (`sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest)
  const configDigest = digestOrUndefined(first(f, 'image:config-digest')) ?? digestOrUndefined(first(f, 'ImageID'))
  const diffIds = [...(f.get('image:diff-id') ?? []), ...(f.get('DiffID') ?? [])].filter(isDigest)
  const repoTags = [...(f.get('image:repo-tag') ?? []), ...(f.get('RepoTag') ?? [])]
  return {
    reference: sbom.image.name || first(f, 'Reference') || `sbom:${name}`,
    digest,
    ...(configDigest ? { configDigest } : {}),
    platform: first(f, 'image:platform') ?? '',
    layers: (f.get('image:layer') ?? []).filter(isDigest),
    ...(diffIds.length ? { diffIds } : {}),
    ...(repoTags.length ? { repoTags } : {}),
  }
}

/** Where each OS package database lives, for packages whose SBOM does not say. */
const DEFAULT_DB_PATH: Record<string, string> = {
  deb: 'var/lib/dpkg/status',
  apk: 'lib/apk/db/installed',
  rpm: 'var/lib/rpm/rpmdb.sqlite',
}

function toPackage(entry: SbomEntry, purl: PackageURL, os: OsInfo | undefined): Package | string {
  const f = entry.facts
  const isOs = OS_PURL_TYPES.has(purl.type)
  let ecosystem = first(f, 'ecosystem')
  if (!ecosystem) {
    if (isOs) ecosystem = osFromPurl(purl)?.ecosystem ?? os?.ecosystem
    else ecosystem = LANGUAGE_PURL_TYPES[purl.type]
  }
  if (!ecosystem) return `purl type "${purl.type}" has no ecosystem Vigil matches (${entry.purl})`
  const rawVersion = purl.version ?? entry.version
  if (!rawVersion) return `no version (${entry.purl})`

  const epochText = first(f, 'epoch') ?? purl.qualifiers?.epoch
  const epoch = epochText !== undefined && /^\d+$/.test(epochText) ? Number(epochText) : undefined
  // Vigil keeps deb and rpm versions whole (`1:1.0.2k-16.el7`); purls carry the epoch apart.
  const version = isOs && epoch && !/^\d+:/.test(rawVersion) ? `${epoch}:${rawVersion}` : rawVersion
  const name = isOs ? purl.name : languagePackageName(purl)
  const layer = digestOrUndefined(first(f, 'layer')) ?? digestOrUndefined(first(f, 'LayerDigest'))
  const path = first(f, 'path') ?? first(f, 'FilePath') ?? entry.location ?? (isOs ? DEFAULT_DB_PATH[purl.type] : undefined) ?? ''
  const source = sourceOf(entry, purl, isOs)
  const arch = first(f, 'arch') ?? purl.qualifiers?.arch
  return {
    ecosystem,
    name,
    version,
    ...(source ? { source } : {}),
    ...(arch ? { arch } : {}),
    purl: purl.toString(),
    ...(layer ? { layer } : {}),
    path,
    ...(first(f, 'os-owned') === 'true' ? { osOwned: true } : {}),
    kind: isOs ? 'os' : 'lang',
    ...(epoch !== undefined && isOs ? { epoch } : {}),
    ...(first(f, 'modularity-label') ? { modularityLabel: first(f, 'modularity-label') } : {}),
  }
}

/**
 * Vigil's facts, else Trivy's SrcName/SrcVersion/SrcRelease/SrcEpoch, else Syft's metadata
 * (deb `source`/`sourceVersion`, apk `originPackage`, rpm `sourceRpm`), else purl qualifiers.
 * The source version is what distro advisories are compared with (match/keys.ts advisoryVersion).
 */
function sourceOf(entry: SbomEntry, purl: PackageURL, isOs: boolean): SourcePackage | undefined {
  const f = entry.facts
  const vigilName = first(f, 'source:name')
  if (vigilName) return { name: vigilName, ...(first(f, 'source:version') ? { version: first(f, 'source:version') } : {}) }
  const trivyName = first(f, 'SrcName')
  if (trivyName) {
    let version = first(f, 'SrcVersion')
    const release = first(f, 'SrcRelease')
    const epoch = first(f, 'SrcEpoch')
    if (version && release) version = `${version}-${release}`
    if (version && epoch && epoch !== '0') version = `${epoch}:${version}`
    return { name: trivyName, ...(version ? { version } : {}) }
  }
  const syft = syftSource(f, purl.version ?? entry.version)
  if (syft) return syft
  if (entry.source) return entry.source
  if (!isOs) return undefined
  // apk purls name the origin; deb purls from osv-scalibr use `source`, the purl spec `upstream`.
  const q = purl.qualifiers ?? {}
  const qualified = q.origin ?? q.source ?? q.upstream
  if (!qualified) return undefined
  // syft writes `upstream=openssl@3.0.11-1` when the source version differs from the binary's.
  const at = qualified.indexOf('@')
  return at > 0 ? { name: qualified.slice(0, at), version: qualified.slice(at + 1) } : { name: qualified }
}

function syftSource(f: Map<string, string[]>, binaryVersion: string | undefined): SourcePackage | undefined {
  const rpm = first(f, 'syft:sourceRpm')
  if (rpm) return splitSourceRpm(rpm)
  const deb = first(f, 'syft:source')
  // Syft writes sourceVersion only where it differs from the binary's (a binNMU, a binary-only epoch).
  if (deb) {
    const version = first(f, 'syft:sourceVersion') ?? binaryVersion
    return { name: deb, ...(version ? { version } : {}) }
  }
  const origin = first(f, 'syft:originPackage')
  if (origin) return { name: origin, ...(binaryVersion ? { version: binaryVersion } : {}) }
  return undefined
}
