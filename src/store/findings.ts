import type { Store } from './env.js'
import { packageKey, type Finding } from '../match/types.js'
import type { Package } from '../types.js'
import { decodeIds, readImage, readPackage } from './images.js'

/**
 * Findings are stored per variant (`findings`: variant id → Finding[], exactly what matchPackage
 * returned for the variant's representative package), because matching is a pure function of
 * the variant: a delta writes each changed variant once however many images hold it. A package's
 * findings are its variant's with the package's own presentation fields (`materialize`); an
 * image's are the concatenation over its packages in order, which is what matchInventory returns.
 * `findingRefs` (advisory id and every alias → variant ids) answers "who is affected by X" and
 * lets an EPSS/KEV update re-score only the variants that carry a changed CVE.
 */

/**
 * The fields of a Finding that come from the package rather than from the advisory and the
 * variant (match/matcher.ts toFinding). Key order follows toFinding so results compare equal.
 */
export function materialize(core: Finding, pkg: Package): Finding {
  if (core.pkgKey === packageKey(pkg) && core.purl === pkg.purl && core.layer === pkg.layer) return core
  const out: Record<string, unknown> = {}
  let layered = false
  for (const [k, v] of Object.entries(core)) {
    if (k === 'layer') {
      if (pkg.layer) out.layer = pkg.layer
      layered = true
      continue
    }
    if (k === 'modified' && !layered) {
      if (pkg.layer) out.layer = pkg.layer
      layered = true
    }
    out[k] = k === 'pkgKey' ? packageKey(pkg) : k === 'purl' ? pkg.purl : k === 'path' ? pkg.path : v
  }
  if (!layered && pkg.layer) out.layer = pkg.layer
  return out as unknown as Finding
}

export function materializeAll(core: readonly Finding[], pkg: Package): Finding[] {
  return core.map((f) => materialize(f, pkg))
}
export function readVariantFindings(store: Store, variant: number): Finding[] {
  return (store.findings.get(variant) as Finding[] | undefined) ?? []
}

function refKeys(findings: readonly Finding[]): Set<string> {
  const out = new Set<string>()
  for (const f of findings) {
    out.add(f.id)
    for (const a of f.aliases) out.add(a)
  }
  return out
}

function idBytes(variant: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(variant, 0)
  return b
}

/** Replaces a variant's findings and its refs. Inside a write transaction. */
export function writeVariantFindings(store: Store, variant: number, before: readonly Finding[], after: readonly Finding[]): void {
  const oldRefs = refKeys(before)
  const newRefs = refKeys(after)
  const id = idBytes(variant)
  for (const r of oldRefs) if (!newRefs.has(r)) store.findingRefs.removeSync(r, id)
  for (const r of newRefs) if (!oldRefs.has(r)) store.findingRefs.putSync(r, id)
  if (after.length === 0) store.findings.removeSync(variant)
  else store.findings.putSync(variant, after)
}

export function dropVariantFindings(store: Store, variant: number): void {
  writeVariantFindings(store, variant, readVariantFindings(store, variant), [])
}

/** Variant ids with a finding whose id or alias is `idOrAlias`. */
export function variantsWithFinding(store: Store, idOrAlias: string): number[] {
  const out: number[] = []
  for (const v of store.findingRefs.getValues(idOrAlias)) out.push((v as Buffer).readUInt32BE(0))
  return out
}

/** An image's findings, in inventory order (equal to matchInventory on its inventory). */
export function imageFindings(store: Store, digest: string): Finding[] | undefined {
  const rec = readImage(store, digest)
  if (!rec) return undefined
  const out: Finding[] = []
  for (const id of decodeIds(rec.packages)) {
    const p = readPackage(store, id)
    if (!p) continue
    const core = readVariantFindings(store, p.variant)
    if (core.length) out.push(...materializeAll(core, p.pkg))
  }
  return out
}

/** A stable identity for comparing two findings field by field (key order and undefined fields ignored). */
export function findingFingerprint(f: Finding): string {
  return canonical(f)
}

/** Field-by-field equality; the native JSON path settles the usual case (same key order). */
export function sameFinding(a: Finding, b: Finding): boolean {
  return JSON.stringify(a) === JSON.stringify(b) || canonical(a) === canonical(b)
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
