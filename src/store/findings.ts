import type { Store } from './env.js'
import { packageKey, type Finding } from '../match/types.js'
import type { Package } from '../types.js'
import { imagePackages, readImage, variantRecord } from './images.js'
import { readCache, recordId, recordKeysFor, type ReadCache } from './advisories.js'
import { advisoryIdsUnder } from './advisory-ids.js'

/**
 * Findings are stored per variant and advisory (`findings`: [advisory id, variant id] → Finding,
 * exactly what matchPackage returned for the variant's representative package), because matching
 * is a pure function of the variant: a delta writes each changed variant once however many images
 * hold it, and only the findings of the advisories it changed. A variant's findings come back in
 * advisory id order, which is matchPackage's order. A package's findings are its variant's with
 * the package's own presentation fields (`materialize`); an image's are the concatenation over
 * its packages in order, which is what matchInventory returns.
 * The findings' keys answer "who is affected by X" (aliases resolve through the advisory store)
 * and let an EPSS/KEV update re-score only the variants that carry a changed CVE. A variant's
 * findings are read by the advisory ids it can have (store/advisory-ids.ts), not through an
 * index of their own.
 */

/**
 * A stored finding shown for one package: the package's own pkgKey, purl, path and layer.
 * Fields are written in match/matcher.ts toFinding's order, so a materialized finding is
 * byte-for-byte what matching the package gives (the property test compares JSON).
 */
export function materialize(core: Finding, pkg: Package, layer: string | undefined = pkg.layer): Finding {
  const pkgKey = packageKey(pkg)
  if (core.pkgKey === pkgKey && core.purl === pkg.purl && core.path === pkg.path && core.layer === layer) return core
  const out: Finding = {
    id: core.id,
    aliases: core.aliases,
    pkgKey,
    ecosystem: core.ecosystem,
    name: core.name,
    installed: core.installed,
    fixedVersions: core.fixedVersions,
    state: core.state,
    severity: core.severity,
    severitySource: core.severitySource,
    cvss: core.cvss,
    risk: core.risk,
    purl: pkg.purl,
    path: pkg.path,
  }
  if (core.epss !== undefined) out.epss = core.epss
  if (core.kev) out.kev = true
  if (core.title) out.title = core.title
  if (core.description !== undefined) out.description = core.description
  if (core.references !== undefined) out.references = core.references
  if (layer) out.layer = layer
  if (core.modified) out.modified = core.modified
  return out
}

export function materializeAll(core: readonly Finding[], pkg: Package): Finding[] {
  return core.map((f) => materialize(f, pkg))
}

/**
 * A variant's findings, in advisory id order; with `only`, just those whose id is in it. A
 * variant that is not stored has none.
 */
export function readVariantFindings(store: Store, variant: number, only?: ReadonlySet<string>, cache: ReadCache = readCache(store)): Finding[] {
  const out: Finding[] = []
  const record = variantRecord(store, variant)
  if (!record) return out
  for (const id of advisoryIdsUnder(store, record.keys, cache)) {
    if (only && !only.has(id)) continue
    const f = readVariantFinding(store, variant, id)
    if (f) out.push(f)
  }
  return out
}

/** The variant's finding for one advisory id, if any. */
export function readVariantFinding(store: Store, variant: number, id: string): Finding | undefined {
  return store.findings.get([id, variant]) as Finding | undefined
}

/**
 * Replaces a variant's findings for some advisory ids (all of `before` and `after`; ids in
 * neither are left alone). Findings are keyed [advisory id, variant]: a delta changes one
 * advisory's findings in hundreds of variants, and keeping them side by side keeps its commit to
 * a few pages. Aliases are not indexed: `variantsWithFinding` resolves them through the advisory
 * store's alias table. Inside a write transaction.
 */
export function writeVariantFindings(store: Store, variant: number, before: readonly Finding[], after: readonly Finding[]): void {
  const old = new Map(before.map((f) => [f.id, f]))
  for (const f of after) {
    const prior = old.get(f.id)
    old.delete(f.id)
    if (prior !== undefined && sameFinding(prior, f)) continue
    store.findings.putSync([f.id, variant], f)
  }
  for (const id of old.keys()) store.findings.removeSync([id, variant])
}

export function dropVariantFindings(store: Store, variant: number): void {
  writeVariantFindings(store, variant, readVariantFindings(store, variant), [])
}

/** Variant ids with a finding whose id is exactly `id`, ascending. */
export function variantsWithFindingId(store: Store, id: string): number[] {
  const out: number[] = []
  for (const k of store.findings.getKeys({ start: [id], end: [id, 0x100000000] })) out.push((k as [string, number])[1])
  return out
}

/**
 * Variant ids with a finding whose id or alias is `idOrAlias`: the finding's aliases are its
 * advisory record's, so the records that carry `idOrAlias` (advisory store `aliases`) name the
 * finding ids to look up.
 */
export function variantsWithFinding(store: Store, idOrAlias: string): number[] {
  const ids = new Set<string>([idOrAlias])
  for (const key of recordKeysFor(store, idOrAlias)) {
    const id = recordId(store, key)
    if (id !== undefined) ids.add(id)
  }
  if (ids.size === 1) return variantsWithFindingId(store, idOrAlias)
  const out = new Set<number>()
  for (const id of ids) for (const v of variantsWithFindingId(store, id)) out.add(v)
  return [...out].sort((a, b) => a - b)
}

/** An image's findings, in inventory order (equal to matchInventory on its inventory). */
export function imageFindings(store: Store, digest: string): Finding[] | undefined {
  const rec = readImage(store, digest)
  if (!rec) return undefined
  const out: Finding[] = []
  const cache = readCache(store)
  for (const p of imagePackages(store, rec)) {
    const core = readVariantFindings(store, p.variant, undefined, cache)
    if (core.length) out.push(...materializeAll(core, p.pkg))
  }
  return out
}

/** A stable identity for comparing two findings field by field (key order and undefined fields ignored). */
export function findingFingerprint(f: Finding): string {
  return canonical(f)
}

/** Field-by-field equality, key order and undefined fields ignored (what findingFingerprint compares). */
export function sameFinding(a: Finding, b: Finding): boolean {
  return sameValue(a, b)
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const x = a as Record<string, unknown>
  const y = b as Record<string, unknown>
  let defined = 0
  for (const k in x) {
    if (x[k] === undefined) continue
    defined++
    if (!sameValue(x[k], y[k])) return false
  }
  for (const k in y) if (y[k] !== undefined) defined--
  return defined === 0
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}
