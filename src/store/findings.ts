import type { Store } from './env.js'
import type { Finding } from '../match/types.js'
import { imagePackages, readImage } from './images.js'
import { recordId, recordKeysFor } from './advisories.js'
import { FindingsReader, materialize } from './finding-groups.js'

export { FindingsReader, FindingsWriter, materialize, sameFinding, type SharedFinding } from './finding-groups.js'

/**
 * Findings as the rest of Vigil sees them: per package variant, because matching is a pure
 * function of the variant (a delta re-matches each changed variant once however many images hold
 * it). They are stored grouped by advisory (store/finding-groups.ts). A variant's findings come
 * back in advisory id order, which is matchPackage's order; a package's are its variant's shown
 * with the package's own fields (`materialize`); an image's are the concatenation over its
 * packages in order, which is what matchInventory returns. The groups' keys answer "who is
 * affected by X" (aliases resolve through the advisory store) and let an EPSS/KEV update re-score
 * only the variants that carry a changed CVE. Which ids a variant can have comes from the advisory
 * store (store/advisory-ids.ts).
 */

/** A variant's findings, in advisory id order; with `only`, just those whose id is in it. */
export function readVariantFindings(store: Store, variant: number, only?: ReadonlySet<string>): Finding[] {
  return new FindingsReader(store).ofVariant(variant, only)
}

/** Variant ids with a finding whose id is exactly `id`, ascending. */
export function variantsWithFindingId(store: Store, id: string): number[] {
  return new FindingsReader(store).variantsWith(id)
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
  const reader = new FindingsReader(store)
  for (const p of imagePackages(store, rec)) for (const shared of reader.sharedOfVariant(p.variant)) out.push(materialize(shared, p.pkg))
  return out
}

/** A stable identity for comparing two findings field by field (key order and undefined fields ignored). */
export function findingFingerprint(f: Finding): string {
  return canonical(f)
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
