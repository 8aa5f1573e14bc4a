import { HOUR, MiB, type FeedSource } from './types.js'

/** FIRST's EPSS scores for every CVE, published daily as one gzipped CSV. */
export const epssSource: FeedSource = {
  name: 'epss',
  title: 'EPSS daily scores (FIRST)',
  defaultBase: 'https://epss.empiricalsecurity.com',
  intervalMs: 6 * HOUR,
  staleAfterMs: 72 * HOUR,
  changeDetection: 'ETag / If-Modified-Since on the current file (it changes once a day)',
  units: () => [{ kind: 'exploit', id: 'epss', source: 'epss', path: 'epss_scores-current.csv.gz', format: 'epss-csv', maxBytes: 512 * MiB }],
}
