import { createHash } from 'node:crypto'
import { bumpMeta, metaCounter, type Store } from './env.js'
import { comparatorFor } from '../match/compare.js'
import { splitStoreKey, storeKey, normalizeEcosystem } from '../match/keys.js'
import type { AdvisoryRecord, CompiledAdvisory } from '../match/model.js'
import { compileRange } from '../match/ranges.js'
import { parseSeverityWord } from '../match/severity.js'
import { recordDepartures } from './advisory-ids.js'

/**
 * The advisory side of the store: `advisoryRecords` (record key → StoredRecord), `advisories`
 * (`ecosystem\0name` → CompiledAdvisory[] sorted by id), `aliases` (alias → record keys),
 * `exploit` (CVE → ExploitRow), and `meta` rows `feed:<source>` and `exploit:dates`.
 */
export interface StoredRecord {
  /** The AdvisoryRecord as JSON bytes: the same bytes the fingerprint hashes, stored as-is (msgpack of a bin is a copy). */
  json: Uint8Array
  id: string
  aliases: string[]
  modified?: string
  fingerprint: string
  /** Store keys the record's compiled entries live under. */
  keys: string[]
}

export interface ExploitRow {
  epss?: number
  percentile?: number
  kev?: boolean
}

export type RecordOutcome = 'added' | 'changed' | 'unchanged' | 'withdrawn' | 'absent'

export function fingerprint(record: AdvisoryRecord): string {
  return fingerprintJson(JSON.stringify(record))
}

function fingerprintJson(json: string | Uint8Array): string {
  return createHash('sha1').update(json).digest('base64url')
}

export function compileRecord(record: AdvisoryRecord, fp: string): CompiledAdvisory[] {
  const out: CompiledAdvisory[] = []
  for (const a of record.affected) {
    const ecosystem = normalizeEcosystem(a.ecosystem)
    const ranges = a.ranges.map((r) => compileRange(r, comparatorFor(ecosystem, r.type)))
    const fixed = ranges.flatMap((r) => r.intervals.flatMap((iv) => (iv.fixed ? [iv.fixed] : [])))
    const key = storeKey(ecosystem, a.name)
    const c: CompiledAdvisory = {
      key: record.key,
      id: record.id,
      aliases: record.aliases,
      fingerprint: fp,
      ecosystem,
      name: splitStoreKey(key).name,
      ranges,
      versions: a.versions,
      fixed: [...new Set(fixed)],
      cvss: record.cvss,
      source: record.source,
    }
    if (record.modified) c.modified = record.modified
    if (a.state) c.state = a.state
    const vendor = a.vendorSeverity ?? record.vendorSeverity
    if (vendor) c.vendorSeverity = vendor
    if (record.summary) c.title = record.summary
    out.push(c)
  }
  return out
}

/**
 * Writes one batch of records in one LMDB transaction (atomic per batch). Returns each record's
 * outcome and the store keys whose compiled advisories changed. Must be called inside
 * `store.root.transactionSync`.
 */
export function writeRecordsInTxn(store: Store, records: readonly AdvisoryRecord[]): { outcomes: RecordOutcome[]; touched: Set<string> } {
  const pending = new Map<string, CompiledAdvisory[]>()
  const touched = new Set<string>()
  // Per key, the ids whose compiled entries this batch took out (store/advisory-ids.ts).
  const removed = new Map<string, Set<string>>()
  const outcomes: RecordOutcome[] = []
  const entriesFor = (key: string): CompiledAdvisory[] => {
    let list = pending.get(key)
    if (!list) {
      list = ((store.advisories.get(key) as CompiledAdvisory[] | undefined) ?? []).slice()
      pending.set(key, list)
    }
    return list
  }
  for (const record of records) {
    const old = store.advisoryRecords.get(record.key) as StoredRecord | undefined
    if (record.withdrawn) {
      if (!old) {
        outcomes.push('absent')
        continue
      }
      removeCompiled(record.key, old, entriesFor, touched, removed)
      unlinkAliases(store, record.key, old)
      store.advisoryRecords.removeSync(record.key)
      outcomes.push('withdrawn')
      continue
    }
    // An older copy of a record (out-of-order delivery, an old snapshot) never replaces a newer one.
    if (old?.modified && record.modified && record.modified < old.modified) {
      outcomes.push('unchanged')
      continue
    }
    const json = Buffer.from(JSON.stringify(record))
    const fp = fingerprintJson(json)
    if (old && old.fingerprint === fp) {
      outcomes.push('unchanged')
      continue
    }
    if (old) {
      removeCompiled(record.key, old, entriesFor, touched, removed)
      unlinkAliases(store, record.key, old)
    }
    const compiled = compileRecord(record, fp)
    const keys = new Set<string>()
    for (const c of compiled) {
      const key = `${c.ecosystem}\0${c.name}`
      keys.add(key)
      touched.add(key)
      entriesFor(key).push(c)
    }
    const stored: StoredRecord = { json, id: record.id, aliases: record.aliases, fingerprint: fp, keys: [...keys] }
    if (record.modified) stored.modified = record.modified
    store.advisoryRecords.putSync(record.key, stored)
    linkAliases(store, record.key, record)
    outcomes.push(old ? 'changed' : 'added')
  }
  if (pending.size > 0) bumpGeneration(store)
  for (const [key, list] of pending) {
    if (list.length === 0) store.advisories.removeSync(key)
    else store.advisories.putSync(key, list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.key < b.key ? -1 : 1)))
  }
  recordDepartures(store, removed, pending)
  return { outcomes, touched }
}

function removeCompiled(recordKey: string, old: StoredRecord, entriesFor: (key: string) => CompiledAdvisory[], touched: Set<string>, removed: Map<string, Set<string>>): void {
  for (const key of old.keys) {
    const list = entriesFor(key)
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.key === recordKey) list.splice(i, 1)
    touched.add(key)
    let ids = removed.get(key)
    if (!ids) removed.set(key, (ids = new Set()))
    ids.add(old.id)
  }
}

function linkAliases(store: Store, recordKey: string, record: { id: string; aliases: string[] }): void {
  for (const alias of new Set([record.id, ...record.aliases])) {
    const keys = (store.aliases.get(alias) as string[] | undefined) ?? []
    if (!keys.includes(recordKey)) store.aliases.putSync(alias, [...keys, recordKey])
  }
}

function unlinkAliases(store: Store, recordKey: string, record: { id: string; aliases: string[] }): void {
  for (const alias of new Set([record.id, ...record.aliases])) {
    const keys = ((store.aliases.get(alias) as string[] | undefined) ?? []).filter((k) => k !== recordKey)
    if (keys.length === 0) store.aliases.removeSync(alias)
    else store.aliases.putSync(alias, keys)
  }
}

/**
 * lmdb-js's ordered-binary key encoding reads long strings containing NUL back as arrays of the
 * NUL-separated parts; joining restores the key that was written.
 */
export function keyString(key: unknown): string {
  return Array.isArray(key) ? key.join('\0') : String(key)
}

/**
 * Decoded advisories and exploit rows, kept per store until its generation changes. Every write
 * here bumps `meta['advisories:generation']` in the same transaction, so a reader that checks the
 * generation sees exactly the store's contents (matching stays a pure function of them) without
 * paying msgpack decoding for the same hot keys (stdlib, openssl, django) on every package.
 */
const GENERATION = 'advisories:generation'
const CACHE_LIMIT = 100_000

export interface ReadCache {
  readonly generation: number
  readonly compiled: Map<string, readonly CompiledAdvisory[]>
  readonly exploit: Map<string, ExploitRow | null>
}

const caches = new WeakMap<Store, ReadCache>()

export function bumpGeneration(store: Store): void {
  bumpMeta(store, GENERATION)
}

/** The read cache for the store's current generation (one meta read). */
export function readCache(store: Store): ReadCache {
  const generation = metaCounter(store, GENERATION)
  let cache = caches.get(store)
  if (!cache || cache.generation !== generation) {
    cache = { generation, compiled: new Map(), exploit: new Map() }
    caches.set(store, cache)
  }
  return cache
}

/** Compiled advisories under a store key. The arrays are shared with the cache: read only. */
export function readCompiled(store: Store, key: string, cache: ReadCache = readCache(store)): readonly CompiledAdvisory[] {
  let list = cache.compiled.get(key)
  if (list === undefined) {
    list = (store.advisories.get(key) as CompiledAdvisory[] | undefined) ?? []
    if (cache.compiled.size >= CACHE_LIMIT) cache.compiled.clear()
    cache.compiled.set(key, list)
  }
  return list
}

export function readRecord(store: Store, key: string): AdvisoryRecord | undefined {
  const stored = store.advisoryRecords.get(key) as StoredRecord | undefined
  return stored ? (JSON.parse(Buffer.from(stored.json).toString('utf8')) as AdvisoryRecord) : undefined
}

/** The id of a stored record. */
export function recordId(store: Store, key: string): string | undefined {
  return (store.advisoryRecords.get(key) as StoredRecord | undefined)?.id
}

/** Record keys for an id or alias (CVE-…, GHSA-…, GO-…). */
export function recordKeysFor(store: Store, idOrAlias: string): string[] {
  return (store.aliases.get(idOrAlias) as string[] | undefined) ?? []
}

/** EPSS and KEV for a finding: the first CVE among its ids that has data. */
export function readExploit(store: Store, id: string, aliases: readonly string[], cache: ReadCache = readCache(store)): ExploitRow {
  const out: ExploitRow = {}
  for (let i = -1; i < aliases.length; i++) {
    const cve = i < 0 ? id : aliases[i]!
    if (!cve.startsWith('CVE-')) continue
    exploitInto(store, cve, cache, out)
  }
  return out
}

function exploitInto(store: Store, id: string, cache: ReadCache, out: ExploitRow): void {
  let row = cache.exploit.get(id)
  if (row === undefined) {
    row = (store.exploit.get(id) as ExploitRow | undefined) ?? null
    if (cache.exploit.size >= CACHE_LIMIT) cache.exploit.clear()
    cache.exploit.set(id, row)
  }
  if (!row) return
  if (row.epss !== undefined && (out.epss === undefined || row.epss > out.epss)) {
    out.epss = row.epss
    if (row.percentile !== undefined) out.percentile = row.percentile
  }
  if (row.kev) out.kev = true
}

export interface FeedSourceMeta {
  records: number
  lastImport: string
  /** Newest `modified` seen from this source. */
  lastModified?: string
}

export function updateSourceMeta(store: Store, source: string, records: number, lastModified: string | undefined): void {
  const key = `feed:${source}`
  const prev = store.meta.get(key) as FeedSourceMeta | undefined
  const next: FeedSourceMeta = { records: (prev?.records ?? 0) + records, lastImport: new Date().toISOString() }
  const lm = [prev?.lastModified, lastModified].filter((x): x is string => !!x).sort().pop()
  if (lm) next.lastModified = lm
  store.meta.putSync(key, next)
}

export interface AdvisoryStatus {
  sources: Record<string, FeedSourceMeta>
  /** Stored records per ecosystem (a record affecting two ecosystems counts in both). */
  ecosystems: Record<string, { packages: number; advisories: number }>
  records: number
  exploit: { epss: number; kev: number; epssDate?: string; kevDate?: string }
}

/** Each feed source's record count and dates, by source name (cheap: a few meta entries). */
export function feedSources(store: Store): Record<string, FeedSourceMeta> {
  const sources: Record<string, FeedSourceMeta> = {}
  for (const { key, value } of store.meta.getRange({ start: 'feed:', end: 'feed;' })) sources[keyString(key).slice(5)] = value as FeedSourceMeta
  return sources
}

export function advisoryStatus(store: Store): AdvisoryStatus {
  const sources = feedSources(store)
  const ecosystems: AdvisoryStatus['ecosystems'] = {}
  for (const { key, value } of store.advisories.getRange({})) {
    const eco = splitStoreKey(keyString(key)).ecosystem
    const e = (ecosystems[eco] ??= { packages: 0, advisories: 0 })
    e.packages++
    e.advisories += (value as unknown[]).length
  }
  const dates = (store.meta.get('exploit:dates') as { epssDate?: string; kevDate?: string } | undefined) ?? {}
  let epss = 0
  let kev = 0
  for (const { value } of store.exploit.getRange({})) {
    const row = value as ExploitRow
    if (row.epss !== undefined) epss++
    if (row.kev) kev++
  }
  return { sources, ecosystems, records: store.advisoryRecords.getCount(), exploit: { epss, kev, ...dates } }
}

export { parseSeverityWord }
