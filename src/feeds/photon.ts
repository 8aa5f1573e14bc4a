import type { AdvisoryRecord } from '../match/model.js'
import { recordError, type FeedItem } from './types.js'

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Photon OS CVE metadata (`packages.vmware.com/photon/photon_cve_metadata/cve_data_photon<R>.json`
 * entries, one a file as vuln-list writes them): `{os_version, cve_id, pkg, aff_ver, res_ver}`.
 * `res_ver` is the fixed version; `NA` means no fix yet (`affected`). Photon's CVSS score has no
 * vector, so it is not kept (severity then comes from other data for the CVE, or is UNKNOWN).
 */
export function* photonToItems(json: unknown, file: string): Generator<FeedItem> {
  if (!isObj(json) || typeof json.cve_id !== 'string' || typeof json.pkg !== 'string' || typeof json.os_version !== 'string' || typeof json.res_ver !== 'string') {
    yield recordError('ERR_FEED_INVALID', file, 'not a Photon CVE entry (os_version, cve_id, pkg, res_ver)')
    return
  }
  const ecosystem = `Photon OS:${json.os_version}`
  const unfixed = json.res_ver === 'NA' || json.res_ver === ''
  const record: AdvisoryRecord = {
    key: `${ecosystem}/${json.pkg}/${json.cve_id}`,
    id: json.cve_id,
    aliases: [],
    cvss: [],
    affected: [{
      ecosystem, name: json.pkg, versions: [],
      ranges: [{ type: 'ECOSYSTEM', events: unfixed ? [{ introduced: '0' }] : [{ introduced: '0' }, { fixed: json.res_ver }] }],
      ...(unfixed ? { state: 'affected' as const } : {}),
    }],
    source: 'photon',
  }
  yield { kind: 'record', record }
}
