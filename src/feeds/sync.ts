import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Dispatcher } from 'undici'
import { VigilError, toErrorRecord, type ErrorCode } from '../errors.js'
import type { FindingsChanged } from '../assess/delta.js'
import { reassessAfterImport } from '../assess/index.js'
import { ensureSchema } from '../assess/rebuild.js'
import type { AdvisoryRecord } from '../match/model.js'
import type { ImportReport, RecordError } from '../match/index.js'
import { keyString, recordId } from '../store/advisories.js'
import type { Store } from '../store/env.js'
import { DEFAULT_FETCH, fetchText, fetchToFile, proxyDispatcher, type FetchPolicy, type Location, type Validators } from './fetch.js'
import { importFeeds, importRecords } from './import.js'
import { FEED_SOURCES, selectUnits, sourceNamed, type OsvUnit, type SourceOptions, type SyncUnit } from './sources/index.js'
import { DEFAULT_LIMITS } from './types.js'
import { verifyFeedFile } from './verify.js'

/**
 * `vigil db update`: for each selected unit, fetch (conditionally) → verify → import through the
 * transactional import → withdraw what a snapshot stopped listing → re-assess indexed images.
 * A unit that fails (network, size, corrupt download) is reported with its code and changes
 * nothing; the others go on. What makes the next request conditional, the OSV cursor and which
 * record keys each snapshot listed are kept in the store's meta (`sync:<unit>`, `member:<unit>\0<key>`).
 */

export interface SyncOptions extends SourceOptions {
  /** `--source` selectors (source names or unit ids / prefixes); none = everything. */
  selectors?: readonly string[]
  /** Stands in for every source's host: `<mirror>/<source>/<upstream path>` (http(s) URL or a directory). */
  mirror?: string
  /** Per-source base URL (or directory) overrides, by source name. */
  bases?: Readonly<Record<string, string>>
  fetch?: Partial<Omit<FetchPolicy, 'dispatcher'>>
  /** Where HTTP(S)_PROXY / NO_PROXY are read from (default: none, a direct connection). */
  env?: Readonly<Record<string, string | undefined>>
  dispatcher?: Dispatcher
  /** Per-source download caps, by source name (default: each unit's own). */
  maxBytes?: Readonly<Record<string, number>>
  /** OSV: more changed records than this since the last sync and all.zip is cheaper than one request each. */
  osvIncrementalMax?: number
  onProgress?: (p: SyncProgress) => void
  onChange?: (event: FindingsChanged) => void
}

export interface SyncProgress {
  unit: string
  phase: 'fetch' | 'verify' | 'import' | 'done'
  index: number
  total: number
  records?: number
}

export interface UnitReport {
  unit: string
  source: string
  status: 'updated' | 'unchanged' | 'failed'
  /** How the unit was read: a whole snapshot, OSV's listing plus changed records, or a conditional request that said unchanged. */
  mode?: 'full' | 'incremental' | 'not-modified'
  added: number
  changed: number
  withdrawn: number
  unchanged: number
  /** EPSS rows / KEV entries applied, for the exploit sources. */
  exploit: number
  bytes: number
  requests: number
  seconds: number
  recordErrors: RecordError[]
  error?: { code: ErrorCode; message: string }
}

export interface SyncReport {
  units: UnitReport[]
  /** Selectors that named no unit. */
  unknown: string[]
  reassessed: { images: number; events: number }
  elapsedMs: number
}

/** Per-unit sync state in meta. */
export interface UnitState {
  validators?: Validators
  /** OSV: validators of all.zip (the listing's are `validators`). */
  zipValidators?: Validators
  /** OSV: newest `modified` imported, epoch ms. */
  cursor?: number
  /** Entries in the last good snapshot (collapse check). */
  entries?: number
  lastSuccess?: string
  lastAttempt?: string
  lastError?: { code: ErrorCode; message: string; at: string }
}

const stateKey = (unit: string) => `sync:${unit}`
const memberPrefix = (unit: string) => `member:${unit}\0`

export function readUnitState(store: Store, unit: string): UnitState {
  return { ...((store.meta.get(stateKey(unit)) as UnitState | undefined) ?? {}) }
}

/** Every unit that has synced (or tried), with its state. */
export function syncStates(store: Store): Map<string, UnitState> {
  const out = new Map<string, UnitState>()
  for (const { key, value } of store.meta.getRange({ start: 'sync:', end: 'sync;' })) out.set(keyString(key).slice(5), value as UnitState)
  return out
}

export async function syncFeeds(store: Store, options: SyncOptions = {}): Promise<SyncReport> {
  const started = performance.now()
  ensureSchema(store)
  const { units, unknown } = selectUnits(options.selectors ?? [], options)
  const own = options.dispatcher ? undefined : proxyDispatcher(options.env ?? {})
  const policy: FetchPolicy = { ...DEFAULT_FETCH, ...options.fetch, dispatcher: options.dispatcher ?? own! }
  const tmpRoot = join(dirname(store.path), 'feed-tmp')
  mkdirSync(tmpRoot, { recursive: true })
  const report: SyncReport = { units: [], unknown, reassessed: { images: 0, events: 0 }, elapsedMs: 0 }
  const images = new Set<string>()
  const onChange = (e: FindingsChanged) => {
    images.add(e.digest)
    report.reassessed.events++
    options.onChange?.(e)
  }
  for (const [index, unit] of units.entries()) {
    const progress = (phase: SyncProgress['phase'], records?: number) => options.onProgress?.({ unit: unit.id, phase, index, total: units.length, ...(records !== undefined ? { records } : {}) })
    const tmp = await mkdtemp(join(tmpRoot, `${unit.source}-`))
    const ctx: UnitContext = { store, unit, options, policy, tmp, progress, onChange, row: emptyRow(unit) }
    const t0 = performance.now()
    const state = readUnitState(store, unit.id)
    state.lastAttempt = new Date().toISOString()
    try {
      progress('fetch')
      if (unit.kind === 'osv') await syncOsv(ctx, unit, state)
      else await syncFile(ctx, state)
      state.lastSuccess = state.lastAttempt
      delete state.lastError
    } catch (err) {
      const rec = toErrorRecord(err)
      ctx.row.status = 'failed'
      ctx.row.error = { code: rec.code, message: rec.message }
      state.lastError = { code: rec.code, message: rec.message, at: state.lastAttempt }
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
    store.meta.putSync(stateKey(unit.id), state)
    ctx.row.seconds = Math.round(performance.now() - t0) / 1000
    report.units.push(ctx.row)
    progress('done')
  }
  // Keep-alive sockets of a dispatcher made here would hold the process open.
  await own?.close()
  report.reassessed.images = images.size
  report.elapsedMs = Math.round(performance.now() - started)
  return report
}

interface UnitContext {
  store: Store
  unit: SyncUnit
  options: SyncOptions
  policy: FetchPolicy
  tmp: string
  progress: (phase: SyncProgress['phase'], records?: number) => void
  onChange: (e: FindingsChanged) => void
  row: UnitReport
}

function emptyRow(unit: SyncUnit): UnitReport {
  return { unit: unit.id, source: unit.source, status: 'unchanged', added: 0, changed: 0, withdrawn: 0, unchanged: 0, exploit: 0, bytes: 0, requests: 0, seconds: 0, recordErrors: [] }
}

/** `<mirror>/<source>/<path>`, else `<base>/<path>`; a base that is not http(s) is a directory. */
export function locate(unit: SyncUnit, path: string, options: Pick<SyncOptions, 'mirror' | 'bases'>): Location {
  const base = options.mirror ? `${options.mirror.replace(/\/+$/, '')}/${unit.source}` : (options.bases?.[unit.source] ?? sourceNamed(unit.source)!.defaultBase)
  if (/^https?:\/\//i.test(base)) return { kind: 'http', url: `${base.replace(/\/+$/, '')}/${path.split('/').map(encodeURIComponent).join('/')}` }
  return { kind: 'file', path: join(base, ...path.split('/')) }
}

function capOf(ctx: UnitContext): number {
  return ctx.options.maxBytes?.[ctx.unit.source] ?? ctx.unit.maxBytes
}

/** Debian tracker, Alpine secdb, EPSS, KEV: one file, conditional, verified, imported whole. */
async function syncFile(ctx: UnitContext, state: UnitState): Promise<void> {
  const { unit } = ctx
  ctx.row.requests++
  const got = await fetchToFile(locate(unit, unit.path, ctx.options), join(ctx.tmp, 'body'), state.validators ?? {}, capOf(ctx), ctx.policy)
  if (got.status === 'unchanged') {
    ctx.row.mode = 'not-modified'
    return
  }
  ctx.row.bytes += got.bytes
  ctx.progress('verify')
  const entries = await verifyFeedFile(got.file, unit.format, state.entries, DEFAULT_LIMITS.maxRecordBytes)
  ctx.row.mode = 'full'
  const seen = unit.kind === 'snapshot' ? new Set<string>() : undefined
  const imported = await importChecked(ctx, [got.file], seen)
  if (seen) withdrawUnlisted(ctx, seen, imported)
  finishImport(ctx, imported)
  state.validators = got.validators
  state.entries = entries
}

/**
 * OSV, one ecosystem. First sync (or a gap): all.zip. Later: the listing, conditionally; the
 * records it shows modified after the cursor, each fetched, all verified before any is imported;
 * a stored record the listing no longer names is withdrawn.
 */
async function syncOsv(ctx: UnitContext, unit: OsvUnit, state: UnitState): Promise<void> {
  const incrementalMax = ctx.options.osvIncrementalMax ?? 5000
  if (state.cursor !== undefined && hasMembers(ctx.store, unit.id)) {
    ctx.row.requests++
    const listing = await fetchText(locate(unit, unit.listing, ctx.options), state.validators ?? {}, capOf(ctx), ctx.policy, join(ctx.tmp, 'listing'))
    if (listing.status === 'unchanged') {
      ctx.row.mode = 'not-modified'
      return
    }
    ctx.row.bytes += listing.bytes
    const rows = parseListing(listing.text, unit.listing)
    const members = memberCount(ctx.store, unit.id)
    if (members >= 20 && rows.size < members / 2) throw new VigilError('ERR_FEED_CORRUPT', `${unit.listing}: lists ${rows.size} records where ${members} are stored; refused as a collapsed listing`)
    const cursor = state.cursor
    // Modified after the cursor, or never seen: a record published late with an older timestamp
    // than the newest one already imported would otherwise be missed until the next all.zip.
    const prefix = memberPrefix(unit.id)
    const newer = [...rows].filter(([id, t]) => t > cursor || ctx.store.meta.get(`${prefix}${id}`) === undefined)
    if (newer.length <= incrementalMax) {
      ctx.row.mode = 'incremental'
      const dir = join(ctx.tmp, 'records')
      mkdirSync(dir)
      for (const [i, [id]] of newer.entries()) {
        ctx.row.requests++
        const rec = await fetchText(locate(unit, unit.recordPath(id), ctx.options), {}, DEFAULT_LIMITS.maxRecordBytes, ctx.policy, join(ctx.tmp, 'record'))
        if (rec.status !== 'fetched') continue
        ctx.row.bytes += rec.bytes
        let json: { id?: unknown }
        try {
          json = JSON.parse(rec.text) as { id?: unknown }
        } catch (err) {
          throw new VigilError('ERR_FEED_CORRUPT', `${unit.recordPath(id)}: invalid JSON (${(err as Error).message})`)
        }
        if (json.id !== id) throw new VigilError('ERR_FEED_CORRUPT', `${unit.recordPath(id)}: holds ${JSON.stringify(json.id)}, not ${id}`)
        writeFileSync(join(dir, `${String(i).padStart(7, '0')}.json`), rec.text)
      }
      ctx.progress('import')
      const seen = new Set<string>()
      const imported = newer.length > 0 ? await importChecked(ctx, [dir], seen) : emptyImport()
      withdrawKeys(ctx, [...memberKeys(ctx.store, unit.id)].filter((k) => !rows.has(k)), imported)
      addMembers(ctx.store, unit.id, seen)
      finishImport(ctx, imported)
      state.validators = listing.validators
      state.cursor = newer.reduce((max, [, t]) => Math.max(max, t), cursor)
      state.entries = rows.size
      return
    }
  }
  // First sync, a gap, or too much changed: the whole ecosystem.
  ctx.row.requests++
  const zip = await fetchToFile(locate(unit, unit.path, ctx.options), join(ctx.tmp, 'all.zip'), hasMembers(ctx.store, unit.id) ? (state.zipValidators ?? {}) : {}, capOf(ctx), ctx.policy)
  if (zip.status === 'unchanged') {
    ctx.row.mode = 'not-modified'
    return
  }
  ctx.row.bytes += zip.bytes
  ctx.progress('verify')
  const entries = await verifyFeedFile(zip.file, 'osv-zip', state.entries, DEFAULT_LIMITS.maxRecordBytes)
  ctx.row.mode = 'full'
  const seen = new Set<string>()
  let newest = state.cursor ?? 0
  const imported = await importChecked(ctx, [zip.file], seen, (records) => {
    for (const r of records) {
      const t = r.modified ? Date.parse(r.modified) : NaN
      if (t > newest) newest = t
    }
  })
  withdrawUnlisted(ctx, seen, imported)
  finishImport(ctx, imported)
  state.zipValidators = zip.validators
  // The listing's validators belong to the listing: the next sync reads it once, unconditionally.
  delete state.validators
  state.cursor = newest
  state.entries = entries
}

/** `<modified>,<id>` lines (an `<ecosystem>/` prefix on the id is dropped) → id → modified (epoch ms). */
export function parseListing(text: string, where: string): Map<string, number> {
  const rows = new Map<string, number>()
  let n = 0
  for (const raw of text.split('\n')) {
    n++
    const line = raw.trim()
    if (line === '') continue
    const comma = line.indexOf(',')
    const t = comma > 0 ? Date.parse(line.slice(0, comma)) : NaN
    const id = line.slice(comma + 1).replace(/^.*\//, '')
    if (Number.isNaN(t) || id === '') throw new VigilError('ERR_FEED_CORRUPT', `${where}:${n}: not "<modified>,<id>": ${line.slice(0, 80)}`)
    if (!rows.has(id) || rows.get(id)! < t) rows.set(id, t)
  }
  return rows
}

/** importFeeds on verified files; a file-level read error still fails the unit (records already written stay: they were verified). */
async function importChecked(ctx: UnitContext, paths: string[], seen: Set<string> | undefined, also?: (records: readonly AdvisoryRecord[]) => void): Promise<ImportReport> {
  ctx.progress('import')
  let records = 0
  const imported = await importFeeds(ctx.store, paths, {
    onRecords: (batch) => {
      if (seen) for (const r of batch) seen.add(r.key)
      also?.(batch)
      records += batch.length
      ctx.progress('import', records)
    },
  })
  const fatal = imported.errors.find((e) => e.code === 'ERR_FEED_UNREADABLE' || e.code === 'ERR_FEED_FORMAT_UNKNOWN')
  ctx.row.recordErrors.push(...imported.errors)
  if (fatal) throw new VigilError('ERR_FEED_CORRUPT', `${fatal.file}: ${fatal.message}`)
  return imported
}

/** A snapshot's omissions: members of this unit that it no longer lists are withdrawn; the membership becomes what it listed. */
function withdrawUnlisted(ctx: UnitContext, seen: Set<string>, imported: ImportReport): void {
  const gone = [...memberKeys(ctx.store, ctx.unit.id)].filter((k) => !seen.has(k))
  withdrawKeys(ctx, gone, imported)
  addMembers(ctx.store, ctx.unit.id, seen)
}

/**
 * Withdraws record keys (as a withdrawn record through the same import, so deltas and
 * re-assessment follow) unless another unit of the source still lists them, and drops them from
 * this unit's membership. Folds the outcome into `imported`.
 */
function withdrawKeys(ctx: UnitContext, keys: readonly string[], imported: ImportReport): void {
  if (keys.length === 0) return
  const { store, unit } = ctx
  const others = [...syncStates(store).keys()].filter((u) => u !== unit.id && u.startsWith(`${unit.source}/`))
  const records: AdvisoryRecord[] = []
  for (const key of keys) {
    if (others.some((u) => store.meta.get(`${memberPrefix(u)}${key}`) !== undefined)) continue
    records.push({ key, id: recordId(store, key) ?? key, aliases: [], cvss: [], affected: [], source: unit.source, withdrawn: `no longer listed by ${unit.id}` })
  }
  for (let i = 0; i < records.length; i += 2000) {
    const r = importRecords(store, records.slice(i, i + 2000))
    ctx.row.withdrawn += r.withdrawn
    imported.delta.packageKeys = [...new Set([...imported.delta.packageKeys, ...r.packageKeys])]
    imported.delta.ids = [...new Set([...imported.delta.ids, ...r.delta.ids])]
    imported.delta.withdrawn.push(...r.delta.withdrawn)
  }
  store.root.transactionSync(() => {
    for (const key of keys) store.meta.removeSync(`${memberPrefix(unit.id)}${key}`)
  })
}

function finishImport(ctx: UnitContext, imported: ImportReport): void {
  ctx.row.added += imported.added
  ctx.row.changed += imported.changed
  ctx.row.withdrawn += imported.withdrawn
  ctx.row.unchanged += imported.unchanged
  ctx.row.exploit += imported.exploit.epss + imported.exploit.kev
  if (ctx.row.added + ctx.row.changed + ctx.row.withdrawn > 0 || imported.exploit.changedCves.length > 0) ctx.row.status = 'updated'
  reassess(ctx, imported.delta.packageKeys, imported.delta.ids, imported.exploit.changedCves)
}

/**
 * Re-assesses indexed images against a unit's delta, in chunks of REASSESS_CHUNK keys (or CVEs):
 * the re-assessment queue rewrites a work item's whole key list after every batch, so one work
 * item of a full-size first sync (600,000 keys) cost time quadratic in its size, while chunks keep
 * it linear. A large delta's ids are not passed as causes (whole variants are re-matched, which is
 * what that many causes would come to anyway). A store without images has nothing to re-assess.
 */
const REASSESS_CHUNK = 2000

function reassess(ctx: UnitContext, packageKeys: readonly string[], ids: readonly string[], changedCves: readonly string[]): void {
  if (packageKeys.length === 0 && changedCves.length === 0) return
  if (ctx.store.images.getKeysCount({ limit: 1 }) === 0) return
  const causes = ids.length <= REASSESS_CHUNK ? ids : []
  for (let i = 0; i < packageKeys.length; i += REASSESS_CHUNK) {
    reassessAfterImport(ctx.store, { delta: { packageKeys: packageKeys.slice(i, i + REASSESS_CHUNK), ids: causes } }, { onChange: ctx.onChange })
  }
  for (let i = 0; i < changedCves.length; i += REASSESS_CHUNK) {
    reassessAfterImport(ctx.store, { delta: { packageKeys: [] }, exploit: { changedCves: changedCves.slice(i, i + REASSESS_CHUNK) } }, { onChange: ctx.onChange })
  }
}

function emptyImport(): ImportReport {
  return {
    files: 0, sources: {}, added: 0, changed: 0, unchanged: 0, withdrawn: 0, skipped: 0, errors: [],
    exploit: { epss: 0, kev: 0, changedCves: [] }, delta: { changed: [], withdrawn: [], ids: [], packageKeys: [] }, elapsedMs: 0,
  }
}

function* memberKeys(store: Store, unit: string): Generator<string> {
  const prefix = memberPrefix(unit)
  for (const key of store.meta.getKeys({ start: prefix, end: `member:${unit}\u0001` })) yield keyString(key).slice(prefix.length)
}

function hasMembers(store: Store, unit: string): boolean {
  for (const _ of memberKeys(store, unit)) return true
  return false
}

function memberCount(store: Store, unit: string): number {
  let n = 0
  for (const _ of memberKeys(store, unit)) n++
  return n
}

function addMembers(store: Store, unit: string, keys: Iterable<string>): void {
  let batch: string[] = []
  const flush = () => {
    const b = batch
    batch = []
    store.root.transactionSync(() => {
      for (const key of b) store.meta.putSync(`${memberPrefix(unit)}${key}`, 1)
    })
  }
  for (const key of keys) {
    batch.push(key)
    if (batch.length >= 10_000) flush()
  }
  flush()
}

/** The registry's sources with the units a sync with these options would read, for `db status` and `--help`. */
export function describeSources(options: SourceOptions = {}): { name: string; title: string; defaultBase: string; intervalMs: number; staleAfterMs: number; changeDetection: string; units: string[] }[] {
  return FEED_SOURCES.map((s) => ({ name: s.name, title: s.title, defaultBase: s.defaultBase, intervalMs: s.intervalMs, staleAfterMs: s.staleAfterMs, changeDetection: s.changeDetection, units: s.units(options).map((u) => u.id) }))
}
