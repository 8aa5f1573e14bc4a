import { secfixRecords } from './alpine.js'
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
    yield* secfixRecords(ecosystem, pkg.name, pkg.secfixes, ecosystem === 'Wolfi' ? 'wolfi-secdb' : 'chainguard-secdb')
  }
}
