/**
 * Real package pools and real advisories for the re-assessment property test and bench, and a
 * seeded fleet generator over them. Everything comes from ../shared/data (and, for the bench, the
 * corpus images' dpkg status files): Debian bases from real dpkg status files, Alpine bases from
 * real apk databases' expected lists, language packages from real lockfile fixtures; versions
 * drift only to versions that real advisories name (fixed / introduced / listed), so drifted
 * packages are real releases that sit on both sides of real fixes.
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { makePurl } from '../src/sbom/purl.js'
import { storeKey } from '../src/match/keys.js'
import type { Digest, Inventory, OsInfo, Package } from '../src/types.js'

export type Rng = () => number

/** mulberry32: tiny, seedable, good enough to shuffle test fleets. */
export function seeded(seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!
/** Zipf-ish: low indexes (popular entries) come up far more often. */
export const pickPopular = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(xs.length * rng() ** 2.2)]!

export function digestOfText(text: string): Digest {
  return `sha256:${createHash('sha256').update(text).digest('hex')}` as Digest
}

export interface Base {
  name: string
  os: OsInfo
  packages: Package[]
}

export interface Pools {
  bases: Base[]
  /** Language packages, most popular first (ordered by how many fixtures list them). */
  lang: Package[]
  /** storeKey → real versions named by advisories for that package. */
  versions: Map<string, string[]>
  /** OSV records (Go, PyPI) that affect a pooled language package. */
  osv: OsvRecord[]
  /** Real feed files to import as they are (Alpine secdb, Debian tracker samples). */
  feedFiles: string[]
}

export interface OsvRecord {
  id: string
  modified: string
  withdrawn?: string
  aliases?: string[]
  affected?: { package?: { ecosystem?: string; name?: string }; ranges?: { type: string; events: Record<string, string>[] }[]; versions?: string[] }[]
  [k: string]: unknown
}

function tsvRows(file: string): string[][] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split('\t'))
}

function osPackage(os: OsInfo, name: string, version: string, source: string | undefined, path: string): Package {
  const type = os.family === 'alpine' ? 'apk' : 'deb'
  const pkg: Package = {
    ecosystem: os.ecosystem, name, version, purl: makePurl(type, os.family, name, version, { distro: `${os.family}-${os.version}` }), path, kind: 'os',
  }
  if (source && source !== name) pkg.source = { name: source }
  return pkg
}

/** dpkg status stanzas → packages (only the four fields a posting needs). */
export function parseDpkgStatus(text: string, os: OsInfo): Package[] {
  const out: Package[] = []
  for (const stanza of text.split(/\n\n+/)) {
    const field = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(stanza)?.[1]?.trim()
    const name = field('Package')
    const version = field('Version')
    if (!name || !version || !/install ok installed/.test(field('Status') ?? '')) continue
    out.push(osPackage(os, name, version, field('Source')?.split(' ')[0], 'var/lib/dpkg/status'))
  }
  return out
}

export function loadPools(data: string, extraBases: Base[] = []): Pools {
  const pkgdb = join(data, 'pkgdb')
  const bases: Base[] = [...extraBases]
  const debianOs: OsInfo = { family: 'debian', version: '10', ecosystem: 'Debian:10' }
  const ubuntuOs: OsInfo = { family: 'ubuntu', version: '18.04', ecosystem: 'Ubuntu:18.04' }
  for (const f of readdirSync(join(pkgdb, 'dpkg/claircore')).filter((f) => f.endsWith('.expected_packages.tsv'))) {
    // dpkg-query's warnings about foreign (vcpkg) stanzas are not packages.
    const rows = tsvRows(join(pkgdb, 'dpkg/claircore', f)).filter((r) => r[1] && r[4]?.includes('install ok installed'))
    if (rows.length === 0) continue
    const os = rows.some((r) => r[1]?.includes('ubuntu')) ? ubuntuOs : debianOs
    const packages = rows.map((r) => osPackage(os, r[0]!, r[1]!, r[3]?.split(' ')[0], 'var/lib/dpkg/status'))
    bases.push({ name: f.replace('.expected_packages.tsv', ''), os, packages })
  }
  const alpine = (file: string, version: string, name: string) => {
    const os: OsInfo = { family: 'alpine', version, ecosystem: `Alpine:v${version.split('.').slice(0, 2).join('.')}` }
    const seen = new Set<string>()
    const packages: Package[] = []
    for (const r of tsvRows(file)) {
      const extra = r[4] ? (JSON.parse(r[4]) as Record<string, string>) : {}
      const key = `${r[2]}@${r[3]}`
      if (seen.has(key) || !r[2] || !r[3]) continue
      seen.add(key)
      packages.push(osPackage(os, r[2], r[3], extra.SrcName ?? extra.OriginPackage, 'lib/apk/db/installed'))
    }
    bases.push({ name, os, packages })
  }
  alpine(join(pkgdb, 'trivy/pkg/fanal/analyzer/pkg/apk/expected_packages.tsv'), '3.4.6', 'alpine-3.4')
  alpine(join(pkgdb, 'syft/syft/pkg/cataloger/alpine/expected_packages.tsv'), '3.11.6', 'alpine-3.11')

  const lang = loadLanguagePool(pkgdb)
  const names = new Set(lang.map((p) => storeKey(p.ecosystem, p.name)))
  const osv: OsvRecord[] = []
  const versions = new Map<string, string[]>()
  for (const dir of ['osv/go', 'osv/pypi']) {
    for (const f of readdirSync(join(data, 'advisories', dir)).filter((f) => f.endsWith('.json'))) {
      const rec = JSON.parse(readFileSync(join(data, 'advisories', dir, f), 'utf8')) as OsvRecord
      const hits = (rec.affected ?? []).filter((a) => a.package?.ecosystem && a.package.name && names.has(storeKey(a.package.ecosystem, a.package.name)))
      if (hits.length === 0 || rec.withdrawn) continue
      osv.push(rec)
      for (const a of hits) {
        const key = storeKey(a.package!.ecosystem!, a.package!.name!)
        const list = versions.get(key) ?? []
        for (const r of a.ranges ?? []) for (const e of r.events) for (const v of Object.values(e)) if (v !== '0') list.push(v)
        list.push(...(a.versions ?? []).slice(-20))
        // Go modules are installed as `v1.2.3`; vulndb writes `1.2.3`.
        versions.set(key, [...new Set(list.map((v) => (a.package!.ecosystem === 'Go' && !v.startsWith('v') ? `v${v}` : v)))])
      }
    }
  }
  osv.sort((a, b) => (a.id < b.id ? -1 : 1))
  const secdb = join(data, 'advisories/alpine-secdb/alpinelinux-alpine-secdb')
  const feedFiles = ['v3.4', 'v3.11'].map((v) => join(secdb, v, 'main.json')).filter((f) => existsSync(f))
  feedFiles.push(join(data, 'advisories/debian-tracker/vunnel_debian_tracker_sample.json'))
  return { bases, lang, versions, osv, feedFiles }
}

function loadLanguagePool(pkgdb: string): Package[] {
  // Ecosystems without advisories here still belong in a realistic image (and dilute hit rates).
  const sources: [string, string, string][] = [
    ['PyPI', 'pypi', 'trivy/pkg/dependency/parser/python'],
    ['Go', 'golang', 'trivy/pkg/dependency/parser/golang'],
    ['npm', 'npm', 'trivy/pkg/dependency/parser/nodejs'],
    ['Maven', 'maven', 'trivy/pkg/dependency/parser/java'],
    ['NuGet', 'nuget', 'trivy/pkg/dependency/parser/nuget'],
    ['crates.io', 'cargo', 'trivy/pkg/dependency/parser/rust'],
    ['RubyGems', 'gem', 'trivy/pkg/dependency/parser/ruby'],
    ['Packagist', 'composer', 'trivy/pkg/dependency/parser/php'],
  ]
  const counts = new Map<string, { pkg: Package; n: number }>()
  for (const [ecosystem, type, dir] of sources) {
    for (const sub of readdirSync(join(pkgdb, dir))) {
      const file = join(pkgdb, dir, sub, 'expected_packages.tsv')
      if (!existsSync(file)) continue
      for (const r of tsvRows(file)) {
        const [name, version] = [r[2], r[3]]
        if (!name || !version || name === 'stdlib' || /\s/.test(name)) continue
        const k = `${ecosystem}\0${name}`
        const hit = counts.get(k)
        if (hit) {
          hit.n++
          continue
        }
        const path = `app/${type}.lock`
        const colon = type === 'maven' ? name.indexOf(':') : -1
        const purl = colon > 0 ? makePurl(type, name.slice(0, colon), name.slice(colon + 1), version) : makePurl(type, undefined, name, version)
        counts.set(k, { n: 1, pkg: { ecosystem, name, version, purl, path, kind: 'lang' } })
      }
    }
  }
  return [...counts.values()].sort((a, b) => b.n - a.n || (a.pkg.name < b.pkg.name ? -1 : 1)).map((c) => c.pkg)
}

export interface FleetShape {
  images: number
  /** Drifted snapshots per base (each its own shared base layer). */
  snapshots: number
  /** Distinct applications; each image is one app at one release on one base snapshot. */
  apps: number
  /** Language packages per app (min, max). */
  appPackages: [number, number]
  /** Chance that a package drifts to another real version in a snapshot / app release. */
  drift: number
}

/** Generates inventories lazily (100k × 300 packages does not need to sit in memory at once). */
export function* fleet(pools: Pools, shape: FleetShape, rng: Rng): Generator<Inventory> {
  const drifted = (p: Package, layer: Digest): Package => {
    const alt = pools.versions.get(storeKey(p.ecosystem, p.name))
    const version = alt && alt.length > 0 && rng() < shape.drift ? pick(rng, alt) : p.version
    const purl = version === p.version ? p.purl : p.purl.replace(`@${encodeURIComponent(p.version)}`, `@${encodeURIComponent(version)}`)
    return { ...p, version, purl, layer }
  }
  const snapshots = pools.bases.flatMap((base) =>
    Array.from({ length: shape.snapshots }, (_, s) => {
      const layer = digestOfText(`base:${base.name}:${s}`)
      return { base, layer, packages: base.packages.map((p) => (s === 0 ? { ...p, layer } : drifted(p, layer))) }
    }),
  )
  const apps = Array.from({ length: shape.apps }, (_, a) => {
    const [lo, hi] = shape.appPackages
    const want = lo + Math.floor(rng() * (hi - lo + 1))
    const chosen = new Map<string, Package>()
    for (let tries = 0; chosen.size < want && tries < want * 20; tries++) {
      const p = pickPopular(rng, pools.lang)
      chosen.set(`${p.ecosystem}\0${p.name}`, p)
    }
    return { name: `app-${a}`, packages: [...chosen.values()] }
  })
  const releases = new Map<string, Package[]>()
  for (let i = 0; i < shape.images; i++) {
    const snap = pickPopular(rng, snapshots)
    const app = pickPopular(rng, apps)
    const release = Math.floor(rng() * 6)
    const appLayer = digestOfText(`app:${app.name}:${release}`)
    let appPackages = releases.get(appLayer)
    if (!appPackages) releases.set(appLayer, (appPackages = app.packages.map((p) => (release === 0 ? { ...p, layer: appLayer } : drifted(p, appLayer)))))
    const digest = digestOfText(`image:${i}:${snap.layer}:${appLayer}`)
    yield {
      v: 1,
      image: { reference: `registry.test/${app.name}:${release}`, digest, platform: 'linux/amd64', layers: [snap.layer, appLayer] },
      os: snap.base.os,
      packages: [...snap.packages, ...appPackages],
      analyzerSet: 'fleet',
      createdAt: '2026-01-01T00:00:00.000Z',
    }
  }
}

/**
 * A random modification of a real record: a fixed version moved to another real version, the
 * record withdrawn, or a range widened to "all versions" — always with a newer `modified`.
 */
export function mutateRecord(rec: OsvRecord, pools: Pools, rng: Rng, stamp: string): OsvRecord {
  const copy = JSON.parse(JSON.stringify(rec)) as OsvRecord
  copy.modified = stamp
  const roll = rng()
  if (roll < 0.25) {
    // In the past whatever the stamp: a withdrawn time still to come is not in force yet.
    copy.withdrawn = '2024-01-01T00:00:00Z'
    return copy
  }
  for (const a of copy.affected ?? []) {
    const alt = a.package?.ecosystem && a.package.name ? pools.versions.get(storeKey(a.package.ecosystem, a.package.name)) : undefined
    for (const r of a.ranges ?? []) {
      for (const e of r.events) {
        if (roll < 0.75 && e.fixed !== undefined && alt && alt.length > 0) e.fixed = pick(rng, alt)
        else if (roll >= 0.75 && e.fixed !== undefined) {
          delete e.fixed
          e.last_affected = alt && alt.length > 0 ? pick(rng, alt) : '99999'
        }
      }
    }
  }
  return copy
}
