import { bumpMeta, metaCounter, type Store } from './env.js'
import { packageKey, type Finding } from '../match/types.js'
import type { Package } from '../types.js'
import type { VariantRecord } from './images.js'
import { variantRecord } from './images.js'
import { readCache, type ReadCache } from './advisories.js'
import { advisoryIdsUnder } from './advisory-ids.js'
import { encodeIds, decodeIds } from './id-lists.js'

/**
 * How findings are stored: grouped by advisory. Everything in a finding but the package it is
 * shown for comes from the advisory (and its EPSS/KEV row), so the variants an advisory picks
 * share one copy of it: `findings` [advisory id, group no] → { finding: SharedFinding, variants:
 * sorted uint32 ids }. An id has more than one group only when its findings differ beyond the
 * package (two sources' records with one id, say).
 *
 * Why: a delta changes one advisory's findings in hundreds of variants (a range change on a
 * package deployed at hundreds of versions). Stored per (advisory, variant), that was hundreds of
 * puts and pages in the delta's commit; grouped, it is a rewrite of one or two id lists.
 */
export type SharedFinding = Omit<Finding, PackageField>
type PackageField = 'pkgKey' | 'ecosystem' | 'name' | 'installed' | 'purl' | 'path' | 'layer'

interface StoredGroup {
  finding: SharedFinding
  /** Variant ids, ascending, uint32 big-endian. */
  variants: Uint8Array
}

export interface Group extends StoredGroup {
  no: number
}

type GroupKey = [id: string, no: number]

/** The advisory part of a finding. */
export function sharedPart(f: Finding | SharedFinding): SharedFinding {
  const { pkgKey: _k, ecosystem: _e, name: _n, installed: _i, purl: _p, path: _a, layer: _l, ...shared } = f as Finding
  return shared
}

function groupsIn(store: Store, id: string): Group[] {
  const out: Group[] = []
  for (const { key, value } of store.findings.getRange({ start: [id, 0], end: [id, 0x100000000] })) {
    const g = value as StoredGroup
    out.push({ no: (key as GroupKey)[1], finding: g.finding, variants: g.variants })
  }
  return out
}

/**
 * Whether a sorted big-endian id list holds `id` (binary search, no decoding; the bytes are read
 * directly: a DataView per call was an allocation per variant of a delta).
 */
function holds(list: Uint8Array, id: number): boolean {
  let lo = 0
  let hi = (list.byteLength >>> 2) - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const i = mid * 4
    const at = ((list[i]! << 24) | (list[i + 1]! << 16) | (list[i + 2]! << 8) | list[i + 3]!) >>> 0
    if (at === id) return true
    if (at < id) lo = mid + 1
    else hi = mid - 1
  }
  return false
}

/**
 * `meta` counter bumped by every transaction that writes finding groups. A process keeps the
 * groups it has decoded for one value of it: an image report reads the groups of every advisory
 * its packages can have, and decoding them per report cost more than matching the image again.
 */
const GENERATION = 'findings:generation'
const CACHED_IDS = 100_000
const decoded = new WeakMap<Store, { generation: number; byId: Map<string, Group[]> }>()

function decodedGroups(store: Store): Map<string, Group[]> {
  const generation = metaCounter(store, GENERATION)
  let c = decoded.get(store)
  if (!c || c.generation !== generation || c.byId.size >= CACHED_IDS) decoded.set(store, (c = { generation, byId: new Map() }))
  return c.byId
}

/** Inside a write transaction that changed finding groups other than through a FindingsWriter (a rebuild). */
export function bumpFindingsGeneration(store: Store): void {
  bumpMeta(store, GENERATION)
}

/**
 * Reads findings: each advisory id's groups are read and decoded once per findings generation
 * (one `meta` read when the reader is made). Findings come back shown for the variant's own
 * package (what matchPackage gives for it); `materialize` shows them for another package of the
 * variant.
 */
export class FindingsReader {
  private readonly groups: Map<string, Group[]>
  constructor(
    private readonly store: Store,
    readonly cache: ReadCache = readCache(store),
  ) {
    this.groups = decodedGroups(store)
  }

  groupsOf(id: string): Group[] {
    let list = this.groups.get(id)
    if (!list) this.groups.set(id, (list = groupsIn(this.store, id)))
    return list
  }

  /** The advisory part of the variant's finding for `id`, if it has one. */
  sharedOf(variant: number, id: string): SharedFinding | undefined {
    for (const g of this.groupsOf(id)) if (holds(g.variants, variant)) return g.finding
    return undefined
  }

  /** The variant's finding for `id`, shown for the variant's own package. */
  finding(variant: number, id: string, record: VariantRecord | undefined = variantRecord(this.store, variant)): Finding | undefined {
    const shared = this.sharedOf(variant, id)
    return shared && record ? materialize(shared, record.pkg) : undefined
  }

  /** The advisory parts of a variant's findings, in advisory id order; with `only`, those ids alone. */
  sharedOfVariant(variant: number, only?: ReadonlySet<string>, record: VariantRecord | undefined = variantRecord(this.store, variant)): SharedFinding[] {
    const out: SharedFinding[] = []
    if (!record) return out
    for (const id of advisoryIdsUnder(this.store, record.keys, this.cache)) {
      if (only && !only.has(id)) continue
      const shared = this.sharedOf(variant, id)
      if (shared) out.push(shared)
    }
    return out
  }

  /** A variant's findings shown for its own package, in advisory id order. */
  ofVariant(variant: number, only?: ReadonlySet<string>): Finding[] {
    const record = variantRecord(this.store, variant)
    if (!record) return []
    return this.sharedOfVariant(variant, only, record).map((s) => materialize(s, record.pkg))
  }

  /** Variant ids with a finding whose id is exactly `id`, ascending. */
  variantsWith(id: string): number[] {
    const groups = this.groupsOf(id)
    if (groups.length === 1) return decodeIds(groups[0]!.variants)
    return groups.flatMap((g) => decodeIds(g.variants)).sort((a, b) => a - b)
  }
}

interface EditedGroup {
  no: number
  finding: SharedFinding
  variants: Set<number>
  dirty: boolean
}

interface EditedId {
  groups: EditedGroup[]
  next: number
  /** The last finding joined and its group: a delta joins hundreds of variants to one group. */
  last?: { finding: Finding; group: EditedGroup }
}

/**
 * Collects finding changes inside a write transaction and writes each touched group once
 * (`flush`, before the transaction ends). `before` must be what is stored for the variant (as a
 * FindingsReader shows it) and `after` what matching gives for its own package.
 */
export class FindingsWriter {
  private readonly edits = new Map<string, EditedId>()
  constructor(private readonly store: Store) {}

  /** Replaces the variant's findings for the ids in `before` and `after`; other ids stay. */
  replace(variant: number, before: readonly Finding[], after: readonly Finding[]): void {
    const old = new Map(before.map((f) => [f.id, f]))
    for (const f of after) {
      const prior = old.get(f.id)
      old.delete(f.id)
      if (prior !== undefined) {
        if (sameFinding(prior, f)) continue
        this.leave(prior, variant)
      }
      this.join(f, variant)
    }
    for (const prior of old.values()) this.leave(prior, variant)
  }

  /**
   * Applies a diff of the variant's stored findings (assess/delta.ts diffFindings): a delta has
   * compared them already, so nothing is compared again.
   */
  apply(variant: number, diff: { readonly added: readonly Finding[]; readonly removed: readonly Finding[]; readonly changed: readonly { before: Finding; after: Finding }[] }): void {
    for (const f of diff.removed) this.leave(f, variant)
    for (const c of diff.changed) {
      this.leave(c.before, variant)
      this.join(c.after, variant)
    }
    for (const f of diff.added) this.join(f, variant)
  }

  /** The variant goes (its last package left the store): out of every group of these ids. */
  dropVariant(variant: number, ids: readonly string[]): void {
    for (const id of ids) {
      for (const g of this.edited(id).groups) if (g.variants.delete(variant)) g.dirty = true
    }
  }

  flush(): void {
    let wrote = false
    for (const [id, { groups }] of this.edits) {
      for (const g of groups) {
        if (!g.dirty) continue
        g.dirty = false
        wrote = true
        const key: GroupKey = [id, g.no]
        if (g.variants.size === 0) this.store.findings.removeSync(key)
        else {
          const value: StoredGroup = { finding: g.finding, variants: encodeIds([...g.variants].sort((a, b) => a - b)) }
          this.store.findings.putSync(key, value)
        }
      }
    }
    this.edits.clear()
    if (wrote) bumpFindingsGeneration(this.store)
  }

  private edited(id: string): EditedId {
    let e = this.edits.get(id)
    if (!e) {
      const groups = groupsIn(this.store, id).map((g) => ({ no: g.no, finding: g.finding, variants: new Set(decodeIds(g.variants)), dirty: false }))
      e = { groups, next: groups.reduce((n, g) => Math.max(n, g.no + 1), 0) }
      this.edits.set(id, e)
    }
    return e
  }

  private join(f: Finding, variant: number): void {
    const e = this.edited(f.id)
    let g = e.last && sameByIdentity(e.last.finding, f) ? e.last.group : e.groups.find((x) => sameAdvisoryPart(x.finding, f))
    if (!g) e.groups.push((g = { no: e.next++, finding: sharedPart(f), variants: new Set(), dirty: true }))
    e.last = { finding: f, group: g }
    g.variants.add(variant)
    g.dirty = true
  }

  private leave(prior: Finding, variant: number): void {
    // A variant has one finding per id: the group holding it is the one showing `prior`.
    const g = this.edited(prior.id).groups.find((x) => x.variants.has(variant))
    if (g && g.variants.delete(variant)) g.dirty = true
  }
}

/**
 * The advisory parts are equal when every field is the very same value: findings matched from one
 * cached advisory share its arrays (match/matcher.ts toFinding). A false "no" only costs the full
 * comparison.
 */
function sameByIdentity(a: Finding, b: Finding): boolean {
  for (const k of SHARED_FIELDS) if (a[k] !== b[k]) return false
  return true
}

const SHARED_FIELDS = [
  'id', 'aliases', 'fixedVersions', 'state', 'severity', 'severitySource', 'cvss', 'epss', 'kev', 'risk', 'title', 'description', 'references', 'modified',
] as const satisfies readonly (keyof SharedFinding)[]
// Every advisory field is compared: a field added to Finding must be listed above (or be a package field).
const everySharedField: Exclude<keyof SharedFinding, (typeof SHARED_FIELDS)[number]> extends never ? true : never = true
void everySharedField

/**
 * A finding shown for one package: the advisory part with the package's own fields. Fields are
 * written in match/matcher.ts toFinding's order, so a materialized finding is byte-for-byte what
 * matching the package gives (the property test compares JSON).
 */
export function materialize(core: SharedFinding | Finding, pkg: Package, layer: string | undefined = pkg.layer): Finding {
  const out: Finding = {
    id: core.id,
    aliases: core.aliases,
    pkgKey: packageKey(pkg),
    ecosystem: pkg.ecosystem,
    name: pkg.name,
    installed: pkg.version,
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

/**
 * Field-by-field equality over every field a Finding has (test/store/finding-groups.test.ts
 * changes each field of a Required<Finding> in turn), undefined fields ignored. Fields are named,
 * not looped over: a delta compares one advisory's old and new finding in each of hundreds of
 * variants. Those findings share their arrays (a group's decoded ones, the advisory's), so the
 * verdict for a pair of arrays is remembered and `references` and `cvss` are walked once per
 * delta. Findings are never mutated once made, so a remembered verdict cannot go stale.
 */
export function sameFinding(a: Finding, b: Finding): boolean {
  if (a === b) return true
  return a.pkgKey === b.pkgKey && a.ecosystem === b.ecosystem && a.name === b.name && a.installed === b.installed &&
    a.purl === b.purl && a.path === b.path && a.layer === b.layer && sameAdvisoryPart(a, b)
}

/**
 * Whether two findings (or a group's advisory part and a finding) agree on everything that comes
 * from the advisory: what sameFinding compares besides the package, and how a writer finds the
 * group a finding joins (a delta joins hundreds of variants to one group).
 */
function sameAdvisoryPart(a: SharedFinding, b: SharedFinding): boolean {
  return a.id === b.id && a.state === b.state && a.severity === b.severity && a.severitySource === b.severitySource &&
    a.risk === b.risk && a.epss === b.epss && a.kev === b.kev && a.title === b.title && a.description === b.description &&
    a.modified === b.modified && sameList(a.aliases, b.aliases) && sameList(a.fixedVersions, b.fixedVersions) &&
    sameList(a.cvss, b.cvss) && sameList(a.references, b.references)
}

const verdicts = new WeakMap<object, { other: object; same: boolean }>()

function sameList(x: readonly unknown[] | undefined, y: readonly unknown[] | undefined): boolean {
  if (x === y) return true
  if (!x || !y) return false
  const last = verdicts.get(x)
  if (last && last.other === y) return last.same
  const same = sameValue(x, y)
  verdicts.set(x, { other: y, same })
  return same
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
