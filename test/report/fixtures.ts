import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ANALYZERS } from '../../src/analyzers/index.js'
import { importFeeds, matchInventory, type Finding } from '../../src/match/index.js'
import { finalizeInventory, osvEcosystem } from '../../src/sbom/finalize.js'
import { makePurl } from '../../src/sbom/purl.js'
import { openStore, type Store } from '../../src/store/env.js'
import { asDigest, type Inventory, type OsInfo, type Package } from '../../src/types.js'
import { sharedPath } from '../helpers/shared.js'

/**
 * Real inventories and real findings for report tests:
 * - an Ubuntu 18.04 inventory from claircore's texlive dpkg status file, parsed by the dpkg
 *   analyzer from the ANALYZERS registry and finalised as an image scan would;
 * - a PyPI inventory of the (name, version) pairs osv-scanner's recorded api.osv.dev queries
 *   name, matched against the PyPI advisory database (pypa/advisory-database snapshot).
 */

export const LAYER_A = asDigest(`sha256:${'a1'.repeat(32)}`)
export const LAYER_B = asDigest(`sha256:${'b2'.repeat(32)}`)
const IMAGE_DIGEST = asDigest(`sha256:${'c3'.repeat(32)}`)

function baseInventory(reference: string, packages: Package[], os?: OsInfo): Inventory {
  return {
    v: 1,
    image: { reference, digest: IMAGE_DIGEST, platform: 'linux/amd64', layers: [LAYER_A, LAYER_B], diffIds: [asDigest(`sha256:${'d4'.repeat(32)}`), asDigest(`sha256:${'e5'.repeat(32)}`)] },
    ...(os ? { os } : {}),
    packages,
    analyzerSet: 'test',
    createdAt: '2026-11-22T00:00:00.000Z',
  }
}

export async function dpkgInventory(): Promise<Inventory> {
  const path = 'var/lib/dpkg/status'
  const bytes = readFileSync(sharedPath('pkgdb/dpkg/claircore/texlive.status'))
  const analyzer = ANALYZERS.find((a) => a.match({ path, size: bytes.length, mode: 0o644 }))
  if (!analyzer) throw new Error('no analyzer matches var/lib/dpkg/status')
  const result = await analyzer.parse(bytes, { path, size: bytes.length, mode: 0o644, layer: LAYER_A })
  const os: OsInfo = { family: 'ubuntu', version: '18.04', prettyName: 'Ubuntu 18.04.4 LTS', ecosystem: osvEcosystem('ubuntu', '18.04') }
  const packages = finalizeInventory((result.packages ?? []).map((p) => ({ ...p, layer: LAYER_A })), os, [])
  return baseInventory('registry.example.test/tex/texlive:2019', packages, os)
}

/** Expected package count for texlive.status, from its dpkg-query list (header line excluded). */
export function dpkgExpectedCount(): number {
  return readFileSync(sharedPath('pkgdb/dpkg/claircore/texlive.expected_packages.tsv'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).length
}

/**
 * The recorded queries hold no package with an unfixed PyPI advisory, so two come from advisories
 * that list affected versions and no fix: apache-atlas (PYSEC-2017-105…111, CVSS v3) and moin
 * (PYSEC-2009-11), each at the last version its advisory lists.
 */
export const UNFIXED_PYPI: readonly [string, string][] = [['apache-atlas', '0.0.15'], ['moin', '1.9.9']]

export function pypiPackages(): Package[] {
  const rows = readFileSync(sharedPath('e2e/osv-scanner/osv_api_querybatch_answers.tsv'), 'utf8').split('\n')
  const pairs: [string, string][] = []
  for (const line of rows) {
    const [eco, name, , version] = line.split('\t')
    if (eco === 'PyPI' && name && version) pairs.push([name, version])
  }
  const seen = new Set<string>()
  const packages: Package[] = []
  for (const [name, version] of [...pairs, ...UNFIXED_PYPI]) {
    if (seen.has(`${name}@${version}`)) continue
    seen.add(`${name}@${version}`)
    packages.push({
      ecosystem: 'PyPI',
      name,
      version,
      purl: makePurl('pypi', undefined, name, version),
      path: `usr/lib/python3/dist-packages/${name}-${version}.dist-info/METADATA`,
      layer: packages.length % 2 ? LAYER_B : LAYER_A,
      kind: 'lang',
    })
  }
  return packages
}

export function pypiInventory(): Inventory {
  return baseInventory('registry.example.test/team/pyapp:1.0', pypiPackages())
}

/** The PyPI advisory files that name one of these packages (importing all 2.6k takes seconds). */
export function pypiAdvisoryFiles(names: Set<string>): string[] {
  const dir = sharedPath('advisories/osv/pypi')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => join(dir, f))
    .filter((file) => {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { affected?: { package?: { name?: string } }[] }
      return (doc.affected ?? []).some((a) => names.has((a.package?.name ?? '').toLowerCase()))
    })
}

export interface RealScan {
  dataDir: string
  store: Store
  inventory: Inventory
  findings: Finding[]
  cleanup(): Promise<void>
}

/** A data dir with the PyPI advisories for the PyPI inventory imported, and its findings. */
export async function realPypiScan(): Promise<RealScan> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-report-'))
  const store = openStore(dataDir)
  const inventory = pypiInventory()
  const report = await importFeeds(store, pypiAdvisoryFiles(new Set(inventory.packages.map((p) => p.name))))
  if (report.added === 0) throw new Error(`no advisories imported: ${JSON.stringify(report.errors.slice(0, 3))}`)
  const findings = matchInventory(store, inventory)
  return {
    dataDir,
    store,
    inventory,
    findings,
    async cleanup() {
      await store.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
