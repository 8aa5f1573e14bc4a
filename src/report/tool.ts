import { VIGIL_VERSION } from '../version.js'

/** How Vigil names itself in every report and SBOM it writes. */
export const TOOL = {
  name: 'vigil',
  vendor: 'Vigil',
  version: VIGIL_VERSION,
  informationUri: 'https://github.com/vigil-scanner/vigil',
} as const
