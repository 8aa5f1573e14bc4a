import { HOUR, MiB, type FeedSource, type SnapshotUnit } from './types.js'

/** Branches with published secdb files that images in use still run; configurable (`--alpine-branches`). */
export const DEFAULT_ALPINE_BRANCHES: readonly string[] = [
  'v3.10', 'v3.11', 'v3.12', 'v3.13', 'v3.14', 'v3.15', 'v3.16', 'v3.17', 'v3.18', 'v3.19', 'v3.20', 'v3.21', 'v3.22',
]

const REPOSITORIES = ['main', 'community'] as const

/** Alpine secdb: one JSON file per (branch, repository), e.g. `v3.19/main.json`. */
export const alpineSource: FeedSource = {
  name: 'alpine',
  title: 'Alpine secdb, per branch and repository',
  defaultBase: 'https://secdb.alpinelinux.org',
  intervalMs: 2 * HOUR,
  staleAfterMs: 48 * HOUR,
  changeDetection: 'ETag / If-Modified-Since per branch file',
  units: (options) =>
    (options.alpineBranches ?? DEFAULT_ALPINE_BRANCHES).flatMap((branch) =>
      REPOSITORIES.map((repo): SnapshotUnit => ({ kind: 'snapshot', id: `alpine/${branch}/${repo}`, source: 'alpine', path: `${branch}/${repo}.json`, format: 'alpine-secdb', maxBytes: 256 * MiB })),
    ),
}
