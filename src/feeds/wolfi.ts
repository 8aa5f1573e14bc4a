import type { AdvisoryRecord } from '../match/model.js'
import { secfixIds } from './alpine.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Wolfi and Chainguard secdb: Alpine's secfixes without branches (both distros are rolling, one
 * ecosystem each). Wolfi publishes `packages.wolfi.dev/os/security.json`, Chainguard
 * `packages.cgr.dev/chainguard/security.json`: `{reponame, urlprefix, packages: [{pkg: {name,
 * secfixes}}]}`. vuln-list splits it one package a file, `{name, secfixes, reponame, urlprefix}`;
 * both are read. `reponame` tells the two apart (`os` is Wolfi, `chainguard` Chainguard).
 * Record per (distro, origin, id), range `introduced 0, fixed V`; version `0` = not affected.
 */
export function* wolfiSecdbToItems(json: unknown, file: string): Generator<FeedItem> {
  if (!isObj(json) || typeof json.reponame !== 'string') {
    yield recordError('ERR_FEED_INVALID', file, 'not a Wolfi/Chainguard secdb document (reponame, packages or name + secfixes)')
    return
  }
  const ecosystem = json.reponame === 'os' ? 'Wolfi' : json.reponame === 'chainguard' ? 'Chainguard' : undefined
  if (!ecosystem) {
    yield recordError('ERR_FEED_INVALID', file, `unknown secdb repository ${JSON.stringify(json.reponame)} (expected os or chainguard)`)
    return
  }
  const packages = Array.isArray(json.packages) ? json.packages.map((p) => (isObj(p) ? p.pkg : undefined)) : [json]
  for (const pkg of packages) {
    if (!isObj(pkg) || typeof pkg.name !== 'string' || !isObj(pkg.secfixes)) {
      yield recordError('ERR_FEED_INVALID', file, 'a package entry has no name or secfixes')
      continue
    }
    const seen = new Set<string>()
    for (const [version, ids] of Object.entries(pkg.secfixes)) {
      if (!Array.isArray(ids)) {
        yield recordError('ERR_FEED_INVALID', file, `${pkg.name} ${version}: secfixes entry is not a list of ids`)
        continue
      }
      for (const text of ids) {
        if (typeof text !== 'string') continue
        for (const { id, aliases } of secfixIds(text)) {
          if (seen.has(id)) continue
          seen.add(id)
          const record: AdvisoryRecord = {
            key: `${ecosystem}/${pkg.name}/${id}`,
            id,
            aliases,
            cvss: [],
            affected: [{ ecosystem, name: pkg.name, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: version }] }], versions: [] }],
            source: ecosystem === 'Wolfi' ? 'wolfi-secdb' : 'chainguard-secdb',
          }
          if (version === '0') record.withdrawn = 'not affected'
          yield { kind: 'record', record }
        }
      }
    }
  }
}
