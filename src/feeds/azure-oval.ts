import { readFileSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { AdvisoryRecord, RangeEvent } from '../match/model.js'
import { parseSeverityWord } from '../match/severity.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Azure Linux / CBL-Mariner OVAL, as vuln-list splits Microsoft's OVAL XML
 * (`<family>/<release>/definitions/<year>/<id>.json`, with the release's `tests/tests.json`,
 * `objects/objects.json`, `states/states.json` beside them). A definition names one CVE and, via
 * its criteria's test → object (package name) + state (EVR and operation), the package:
 *   `less than EVR`            → fixed in EVR
 *   `less than or equal EVR`   → no fix yet (`affected`), up to and including EVR
 *   `greater than (or equal)`  → the range's lower bound
 *   Patchable `Not Applicable` → not affected: a withdrawn record (undoes an earlier import)
 * Ecosystems: `mariner/1.0` → `Mariner:1.0`, `azure/3.0` → `Azure Linux:3.0`.
 */
export function* azureOvalToItems(json: unknown, file: string): Generator<FeedItem> {
  if (!isObj(json) || !isObj(json.Metadata) || !isObj(json.Criteria)) {
    yield recordError('ERR_FEED_INVALID', file, 'not an OVAL definition (Metadata, Criteria)')
    return
  }
  const releaseDir = dirname(dirname(dirname(file)))
  const family = basename(dirname(releaseDir))
  const release = basename(releaseDir)
  const ecosystem = family === 'azure' ? `Azure Linux:${release}` : family === 'mariner' ? `Mariner:${release}` : undefined
  if (!ecosystem || !/^\d+\.\d+$/.test(release)) {
    yield recordError('ERR_FEED_INVALID', file, 'an Azure Linux OVAL definition must sit at <mariner|azure>/<release>/definitions/<year>/')
    return
  }
  let parts: OvalParts
  try {
    parts = ovalParts(releaseDir)
  } catch (err) {
    yield recordError('ERR_FEED_INVALID', file, `the release's tests/objects/states could not be read: ${(err as Error).message}`)
    return
  }
  const meta = json.Metadata
  const ref = isObj(meta.Reference) ? meta.Reference : {}
  const cve = typeof ref.RefID === 'string' ? ref.RefID : undefined
  const criteria = Array.isArray(json.Criteria.Criterion) ? json.Criteria.Criterion : undefined
  if (!cve || !criteria || criteria.length === 0) {
    yield recordError('ERR_FEED_INVALID', file, 'definition has no CVE reference or no criteria')
    return
  }
  const severity = parseSeverityWord(typeof meta.Severity === 'string' ? meta.Severity : undefined)
  // Criteria are ANDed: one package's `greater than` and `less than` states bound one range.
  const events = new Map<string, RangeEvent[]>()
  for (const c of criteria) {
    const test = isObj(c) && typeof c.TestRef === 'string' ? parts.tests.get(c.TestRef) : undefined
    const name = test && parts.objects.get(test.object)
    const state = test && parts.states.get(test.state)
    if (!name || !state) {
      yield recordError('ERR_FEED_INVALID', file, `criterion ${isObj(c) ? String(c.TestRef) : '?'} does not resolve to a package and a version state`, cve)
      return
    }
    const event = eventOf(state.operation, state.evr.replace(/^0:/, ''))
    if (!event) {
      yield recordError('ERR_FEED_INVALID', file, `unsupported EVR operation ${JSON.stringify(state.operation)}`, cve)
      return
    }
    events.set(name, [...(events.get(name) ?? []), event])
  }
  for (const [name, list] of events) {
    const record: AdvisoryRecord = { key: `${ecosystem}/${name}/${cve}`, id: cve, aliases: [], cvss: [], affected: [], source: 'azure-oval' }
    if (typeof ref.RefURL === 'string') record.references = [ref.RefURL]
    if (severity) record.vendorSeverity = severity
    if (meta.Patchable === 'Not Applicable') record.withdrawn = 'not affected'
    const bounds = list.some((e) => e.introduced !== undefined) ? list : [{ introduced: '0' }, ...list]
    const fixed = bounds.some((e) => e.fixed !== undefined)
    record.affected.push({ ecosystem, name, versions: [], ranges: [{ type: 'ECOSYSTEM', events: bounds }], ...(fixed ? {} : { state: 'affected' as const }) })
    yield { kind: 'record', record }
  }
}

/**
 * OVAL EVR operations as range events. `greater than V` opens at V itself (OSV ranges have no
 * exclusive lower bound); Microsoft writes it only as `greater than 0.0.0`, below every release.
 */
function eventOf(operation: string, evr: string): RangeEvent | undefined {
  switch (operation) {
    case 'less than': return { fixed: evr }
    case 'less than or equal': return { last_affected: evr }
    case 'greater than':
    case 'greater than or equal': return { introduced: evr }
    default: return undefined
  }
}

interface OvalParts {
  tests: Map<string, { object: string; state: string }>
  objects: Map<string, string>
  states: Map<string, { evr: string; operation: string }>
}

// A release directory holds thousands of definitions and one copy of each part file; the key
// carries the part files' mtimes so a re-synced directory is read afresh.
const partsCache = new Map<string, OvalParts>()
const PART_FILES = ['tests/tests.json', 'objects/objects.json', 'states/states.json']

function ovalParts(releaseDir: string): OvalParts {
  const cacheKey = `${releaseDir}\0${PART_FILES.map((f) => statSync(join(releaseDir, f)).mtimeMs).join(',')}`
  const hit = partsCache.get(cacheKey)
  if (hit) return hit
  const read = (sub: string, member: string): unknown[] => {
    const doc: unknown = JSON.parse(readFileSync(join(releaseDir, sub, `${sub}.json`), 'utf8'))
    const list = isObj(doc) ? doc[member] : undefined
    if (!Array.isArray(list)) throw new Error(`${sub}/${sub}.json has no ${member} list`)
    return list
  }
  const parts: OvalParts = { tests: new Map(), objects: new Map(), states: new Map() }
  for (const t of read('tests', 'RpminfoTests')) {
    if (isObj(t) && typeof t.ID === 'string' && isObj(t.Object) && isObj(t.State) && typeof t.Object.ObjectRef === 'string' && typeof t.State.StateRef === 'string') {
      parts.tests.set(t.ID, { object: t.Object.ObjectRef, state: t.State.StateRef })
    }
  }
  for (const o of read('objects', 'RpminfoObjects')) {
    if (isObj(o) && typeof o.ID === 'string' && typeof o.Name === 'string') parts.objects.set(o.ID, o.Name)
  }
  for (const s of read('states', 'RpminfoState')) {
    if (isObj(s) && typeof s.ID === 'string' && isObj(s.Evr) && typeof s.Evr.Text === 'string' && typeof s.Evr.Operation === 'string') {
      parts.states.set(s.ID, { evr: s.Evr.Text, operation: s.Evr.Operation })
    }
  }
  if (partsCache.size > 64) partsCache.clear()
  partsCache.set(cacheKey, parts)
  return parts
}
