import type { Store } from '../store/env.js'
import { VigilError } from '../errors.js'
import { parsePurl } from '../sbom/purl.js'
import { storeKey } from '../match/keys.js'
import { comparatorFor } from '../match/compare.js'
import type { Finding, Severity } from '../match/types.js'
import { digestOf, readImage, readPackage, variantRecord } from '../store/images.js'
import { packagesOfVariant, readPostingKey, variantsUnder } from '../store/postings.js'
import { materialize, readVariantFindings, variantsWithFinding, type SharedFinding } from '../store/findings.js'
import { decodeIds } from '../store/id-lists.js'
import type { Group } from '../store/finding-groups.js'

/**
 * Fleet queries over the index: images holding a package (optionally within a version range),
 * images affected by an advisory or any alias of it, and the fleet's top risks. All are reads
 * of postings and per-variant findings; no inventory is decoded except to show its reference.
 */
export interface PackageHit {
  digest: string
  reference?: string
  ecosystem: string
  name: string
  version: string
  purl: string
  path: string
}

export interface VulnHit extends PackageHit {
  id: string
  severity: Severity
  state: Finding['state']
  fixedVersions: string[]
  risk: number
}

export interface TopRisk {
  id: string
  aliases: string[]
  risk: number
  severity: Severity
  kev: boolean
  epss?: number
  /** Distinct `name@version` affected. */
  packages: string[]
  images: number
}

/** purl type → how its ecosystem is spelled in store keys, and how its name is written. */
const LANGUAGE_TYPES: Record<string, { ecosystem: string; join: (ns: string | undefined, name: string) => string }> = {
  pypi: { ecosystem: 'PyPI', join: (_ns, n) => n },
  golang: { ecosystem: 'Go', join: (ns, n) => (ns ? `${ns}/${n}` : n) },
  npm: { ecosystem: 'npm', join: (ns, n) => (ns ? `${ns}/${n}` : n) },
  maven: { ecosystem: 'Maven', join: (ns, n) => (ns ? `${ns}:${n}` : n) },
  cargo: { ecosystem: 'crates.io', join: (_ns, n) => n },
  gem: { ecosystem: 'RubyGems', join: (_ns, n) => n },
  composer: { ecosystem: 'Packagist', join: (ns, n) => (ns ? `${ns}/${n}` : n) },
  nuget: { ecosystem: 'NuGet', join: (_ns, n) => n },
}

const DISTRO_FAMILIES: Record<string, string> = {
  debian: 'Debian', ubuntu: 'Ubuntu', alpine: 'Alpine', wolfi: 'Wolfi', chainguard: 'Chainguard',
  redhat: 'Red Hat', rhel: 'Red Hat', centos: 'Red Hat', rocky: 'Rocky Linux', almalinux: 'AlmaLinux',
}

export interface PackageQuery {
  /** Store keys to look under (one per ecosystem release for OS packages). */
  keys: string[]
  /** Comparators `[op, version]` that every hit's version must satisfy. */
  range: [string, string][]
}

/** `pkg:deb/debian/openssl`, optionally `@<version or range>` (`>=3.0.0 <3.0.11`, `>=1,<2`). */
export function parsePackageQuery(store: Store, spec: string): PackageQuery {
  const at = spec.indexOf('@', spec.lastIndexOf('/') + 1)
  const purlText = at < 0 ? spec : spec.slice(0, at)
  const rangeText = at < 0 ? '' : decodeURIComponent(spec.slice(at + 1).split('?')[0]!)
  let purl
  try {
    purl = parsePurl(purlText)
  } catch (err) {
    throw new VigilError('ERR_USAGE', `not a package URL: ${purlText} (${(err as Error).message})`)
  }
  const lang = LANGUAGE_TYPES[purl.type]
  let keys: string[]
  if (lang) keys = [storeKey(lang.ecosystem, lang.join(purl.namespace ?? undefined, purl.name))]
  else {
    const family = DISTRO_FAMILIES[(purl.namespace ?? '').toLowerCase()]
    if (!family) throw new VigilError('ERR_USAGE', `unsupported package URL type or namespace: ${purlText}`)
    keys = ecosystemsWithPrefix(store, `${family}:`).map((eco) => storeKey(eco, purl.name)).concat(family.includes(':') ? [] : [storeKey(family, purl.name)])
  }
  return { keys, range: parseRange(rangeText) }
}

function parseRange(text: string): [string, string][] {
  if (!text.trim()) return []
  const out: [string, string][] = []
  for (const part of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^(<=|>=|<|>|==|=|!=)?(.+)$/.exec(part)
    if (!m?.[2]) throw new VigilError('ERR_USAGE', `bad version range "${text}": use e.g. ">=1.2.0 <1.3.0" or an exact version`)
    out.push([m[1] === '==' || !m[1] ? '=' : m[1], m[2]])
  }
  return out
}

/** The distinct ecosystems (releases) in postings that start with `prefix`: one seek per release. */
function ecosystemsWithPrefix(store: Store, prefix: string): string[] {
  const out: string[] = []
  let from = prefix
  for (;;) {
    let key: string | undefined
    for (const k of store.postings.getKeys({ start: [from], limit: 1 })) key = readPostingKey(k)[0]
    if (key === undefined || !key.startsWith(prefix)) return out
    const eco = key.slice(0, key.indexOf('\0'))
    out.push(eco)
    from = `${eco}\x01`
  }
}

function satisfies(ecosystem: string, version: string, range: readonly [string, string][]): boolean {
  if (range.length === 0) return true
  const cmp = comparatorFor(ecosystem, 'ECOSYSTEM')
  for (const [op, bound] of range) {
    let c: number
    try {
      c = cmp ? cmp(version, bound) : version === bound ? 0 : NaN
    } catch {
      return false
    }
    const ok = op === '=' ? c === 0 : op === '!=' ? c !== 0 : op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0
    if (!ok) return false
  }
  return true
}

export function imagesWithPackage(store: Store, spec: string): PackageHit[] {
  const q = parsePackageQuery(store, spec)
  const hits: PackageHit[] = []
  for (const key of q.keys) {
    for (const variant of variantsUnder(store, key)) {
      const v = variantRecord(store, variant)
      if (!v || !satisfies(key.slice(0, key.indexOf('\0')), v.pkg.version, q.range)) continue
      for (const { pkg, images } of packagesOfVariant(store, key, variant)) {
        const p = readPackage(store, pkg)
        if (!p) continue
        // Postings under a source name also list its binaries (libssl3 under openssl), shown by their own names.
        for (const image of images) hits.push({ ...imageFields(store, image), ecosystem: p.pkg.ecosystem, name: p.pkg.name, version: p.pkg.version, purl: p.pkg.purl, path: p.pkg.path })
      }
    }
  }
  return hits.sort(byDigestThenName)
}

export function imagesAffectedBy(store: Store, idOrAlias: string): VulnHit[] {
  const hits: VulnHit[] = []
  for (const variant of variantsWithFinding(store, idOrAlias)) {
    const v = variantRecord(store, variant)
    const key = v?.keys[0]
    if (!v || key === undefined) continue
    const core = readVariantFindings(store, variant).filter((f) => f.id === idOrAlias || f.aliases.includes(idOrAlias))
    for (const { pkg, images } of packagesOfVariant(store, key, variant)) {
      const p = readPackage(store, pkg)
      if (!p) continue
      for (const f of core.map((c) => materialize(c, p.pkg))) {
        for (const image of images) {
          hits.push({
            ...imageFields(store, image), ecosystem: f.ecosystem, name: f.name, version: f.installed, purl: f.purl, path: f.path ?? p.pkg.path,
            id: f.id, severity: f.severity, state: f.state, fixedVersions: f.fixedVersions, risk: f.risk,
          })
        }
      }
    }
  }
  return hits.sort(byDigestThenName)
}

/** Advisories ranked by their highest risk anywhere in the fleet, with how many images carry them. */
export function topRisks(store: Store, limit = 20): TopRisk[] {
  const byId = new Map<string, { best: SharedFinding; variants: Set<number>; packages: Set<string> }>()
  for (const { value } of store.findings.getRange({})) {
    const group = value as Pick<Group, 'finding' | 'variants'>
    const f = group.finding
    let entry = byId.get(f.id)
    if (!entry) byId.set(f.id, (entry = { best: f, variants: new Set(), packages: new Set() }))
    if (f.risk > entry.best.risk) entry.best = f
    for (const variant of decodeIds(group.variants)) {
      entry.variants.add(variant)
      const pkg = variantRecord(store, variant)?.pkg
      if (pkg) entry.packages.add(`${pkg.name}@${pkg.version}`)
    }
  }
  const ranked = [...byId.values()].sort((a, b) => b.best.risk - a.best.risk || (a.best.id < b.best.id ? -1 : 1)).slice(0, Math.max(0, limit))
  return ranked.map(({ best, variants, packages }) => {
    const images = new Set<number>()
    for (const variant of variants) {
      const key = variantRecord(store, variant)?.keys[0]
      if (key !== undefined) for (const { images: ids } of packagesOfVariant(store, key, variant)) for (const i of ids) images.add(i)
    }
    const row: TopRisk = { id: best.id, aliases: best.aliases, risk: best.risk, severity: best.severity, kev: best.kev === true, packages: [...packages].sort(), images: images.size }
    if (best.epss !== undefined) row.epss = best.epss
    return row
  })
}

function imageFields(store: Store, image: number): { digest: string; reference?: string } {
  const digest = digestOf(store, image) ?? `#${image}`
  const reference = readImage(store, digest)?.image.reference
  return reference ? { digest, reference } : { digest }
}

function byDigestThenName(a: PackageHit, b: PackageHit): number {
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}
