import { HOUR, MiB, type FeedSource } from './types.js'

/** The Debian security tracker's whole state as one JSON document (all releases, all source packages). */
export const debianSource: FeedSource = {
  name: 'debian',
  title: 'Debian security tracker JSON',
  defaultBase: 'https://security-tracker.debian.org',
  intervalMs: 2 * HOUR,
  staleAfterMs: 48 * HOUR,
  changeDetection: 'ETag / If-Modified-Since on the JSON document; a changed document is re-read whole and diffed by record fingerprint',
  units: () => [{ kind: 'snapshot', id: 'debian', source: 'debian', path: 'tracker/data/json', format: 'debian-tracker', maxBytes: 2048 * MiB }],
}
