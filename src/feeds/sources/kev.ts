import { HOUR, MiB, type FeedSource } from './types.js'

/** CISA's Known Exploited Vulnerabilities catalogue, one JSON document. */
export const kevSource: FeedSource = {
  name: 'kev',
  title: 'CISA Known Exploited Vulnerabilities',
  defaultBase: 'https://www.cisa.gov',
  intervalMs: 6 * HOUR,
  staleAfterMs: 72 * HOUR,
  changeDetection: 'ETag / If-Modified-Since on the catalogue',
  units: () => [{ kind: 'exploit', id: 'kev', source: 'kev', path: 'sites/default/files/feeds/known_exploited_vulnerabilities.json', format: 'kev-json', maxBytes: 256 * MiB }],
}
