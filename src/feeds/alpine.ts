import type { AdvisoryRecord } from '../match/model.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Vulnerability ids inside a secfixes entry; entries sometimes carry two ids or a trailing note.
 * `CVE_2019-2426` (v3.10 community, openjdk7) is a typo for the CVE it names.
 */
const ID_RE = /\b(?:CVE[-_]\d{4}-\d{4,}|XSA-\d+|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}|ALPINE-\d+)\b/g

/**
 * One secfixes entry → (id, aliases) pairs. An entry naming a CVE and an XSA together
 * (`CVE-2016-6258 XSA-182`) is one vulnerability: the CVE, aliased by the XSA. An entry
 * without a CVE (`CVE-????-?????  XSA-295`) stands under its own ids.
 */
function secfixIds(text: string): { id: string; aliases: string[] }[] {
  const ids = [...new Set((text.match(ID_RE) ?? []).map((id) => id.replace(/^CVE_/, 'CVE-')))]
  const cves = ids.filter((id) => id.startsWith('CVE-'))
  if (cves.length === 0) return ids.map((id) => ({ id, aliases: [] }))
  const others = ids.filter((id) => !id.startsWith('CVE-'))
  return cves.map((id) => ({ id, aliases: others }))
}

/**
 * Alpine secdb (`{distroversion, reponame, packages: [{pkg: {name, secfixes}}]}`) → one record
 * per (branch, origin, id), keyed `Alpine:vX.Y/<origin>/<id>`, range `introduced 0, fixed V`.
 * The secfix version `0` means "never affected on this branch": it yields a withdrawn record so
 * an earlier import that said otherwise is undone.
 */
export function* alpineSecdbToItems(json: unknown, file: string): Generator<FeedItem> {
  // An empty branch converts from YAML as `packages: ""`: no packages, not an error.
  if (isObj(json) && json.packages === '') return
  if (!isObj(json) || typeof json.distroversion !== 'string' || !Array.isArray(json.packages)) {
    yield recordError('ERR_FEED_INVALID', file, 'not an Alpine secdb document (distroversion, packages)')
    return
  }
  const branch = /^v?(\d+\.\d+)/.exec(json.distroversion)?.[1]
  if (!branch) {
    yield recordError('ERR_FEED_INVALID', file, `unrecognised distroversion ${JSON.stringify(json.distroversion)}`)
    return
  }
  const ecosystem = `Alpine:v${branch}`
  for (const entry of json.packages) {
    const pkg = isObj(entry) ? entry.pkg : undefined
    if (!isObj(pkg) || typeof pkg.name !== 'string' || !isObj(pkg.secfixes)) {
      yield recordError('ERR_FEED_INVALID', file, 'a package entry has no name or secfixes')
      continue
    }
    yield* secfixRecords(ecosystem, pkg.name, pkg.secfixes, 'alpine-secdb')
  }
}

/**
 * One package's `secfixes` (`{version: [ids]}`) → one record per id, range `introduced 0, fixed
 * version`; the version `0` means "never affected here" and yields a withdrawn record. Shared by
 * the apk secdbs (Alpine, Wolfi, Chainguard).
 */
export function* secfixRecords(ecosystem: string, name: string, secfixes: Json, source: string): Generator<FeedItem> {
  const seen = new Set<string>()
  for (const [version, ids] of Object.entries(secfixes)) {
    if (!Array.isArray(ids)) continue
    for (const text of ids) {
      if (typeof text !== 'string') continue
      for (const { id, aliases } of secfixIds(text)) {
        // A branch sometimes lists one id under two versions; the first (newest) entry wins.
        if (seen.has(id)) continue
        seen.add(id)
        const record: AdvisoryRecord = {
          key: `${ecosystem}/${name}/${id}`,
          id,
          aliases,
          cvss: [],
          affected: [{ ecosystem, name, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: version }] }], versions: [] }],
          source,
        }
        if (version === '0') record.withdrawn = 'not affected'
        yield { kind: 'record', record }
      }
    }
  }
}
