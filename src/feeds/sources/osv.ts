import { HOUR, MiB, type FeedSource, type OsvUnit } from './types.js'

/**
 * The OSV folders of the ecosystems Vigil's inventory produces (analyzers, SBOM input and the OS
 * table in sbom/finalize.ts), by their folder names in osv.dev's export. Debian and Alpine are
 * absent: their primary sources (the tracker, secdb) are synced natively. CocoaPods has no OSV
 * folder. Folders hold every release (`Ubuntu` has `Ubuntu:22.04`, `Ubuntu:Pro:…`).
 */
export const DEFAULT_OSV_ECOSYSTEMS: readonly string[] = [
  'npm', 'PyPI', 'Go', 'Maven', 'crates.io', 'RubyGems', 'Packagist', 'NuGet', 'Pub', 'Hex', 'ConanCenter', 'SwiftURL',
  'Ubuntu', 'Red Hat', 'AlmaLinux', 'Rocky Linux', 'SUSE', 'openSUSE', 'Wolfi', 'Chainguard', 'Photon OS',
]

/**
 * osv.dev's public export (https://google.github.io/osv.dev/data/): per ecosystem folder an
 * `all.zip` of every record and a `modified_id.csv` listing every record as
 * `<modified>,<id>`, newest first. The first sync reads all.zip; later ones fetch the listing
 * (conditionally) and only the records modified since the newest one already imported.
 */
export const osvSource: FeedSource = {
  name: 'osv',
  title: 'OSV (osv.dev export), per ecosystem',
  defaultBase: 'https://osv-vulnerabilities.storage.googleapis.com',
  intervalMs: 1 * HOUR,
  staleAfterMs: 48 * HOUR,
  changeDetection: 'modified_id.csv (ETag / If-Modified-Since), then only records modified since the last sync; all.zip on the first sync or a gap',
  units: (options) =>
    (options.osvEcosystems ?? DEFAULT_OSV_ECOSYSTEMS).map(
      (eco): OsvUnit => ({
        kind: 'osv',
        id: `osv/${eco}`,
        source: 'osv',
        path: `${eco}/all.zip`,
        listing: `${eco}/modified_id.csv`,
        recordPath: (id) => `${eco}/${id}.json`,
        format: 'osv-zip',
        // npm's all.zip (malicious-package reports included) is the largest, a few hundred MB.
        maxBytes: 4096 * MiB,
      }),
    ),
}
