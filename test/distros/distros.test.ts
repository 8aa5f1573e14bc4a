import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LayerPool } from '../../src/layers/pool.js'
import { importFeeds, matchInventory, matchPackage } from '../../src/match/index.js'
import { endOfLife, isPastEndOfLife } from '../../src/sbom/eol.js'
import { osInfoFromFacts } from '../../src/sbom/finalize.js'
import { parseReleaseFile } from '../../src/analyzers/os-release.js'
import { toJsonReport } from '../../src/report/json.js'
import { renderTable } from '../../src/report/table.js'
import { buildInventoryDetailed } from '../../src/scan/inventory.js'
import { openStore, type Store } from '../../src/store/env.js'
import type { Package } from '../../src/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { tempDir } from '../layers/fixtures.js'
import { writeOciImage } from './image.js'

noteSharedMissing('distro images matched against vendor data')

const VULNSRC = sharedPath('advisories', 'trivy-db', 'pkg', 'vulnsrc')
const MARINER_DB = sharedPath('pkgdb', 'rpm', 'go-rpmdb', 'cbl-mariner-2.0', 'rpmdb.sqlite')
const AZURE_OVAL = join(VULNSRC, 'azure', 'testdata', 'happy', 'vuln-list')

// CBL-Mariner 2.0's os-release and mariner-release, as the mariner-release 2.0-4.cm2 package
// (the one in the database below) installs them.
const MARINER_OS_RELEASE = `NAME="Common Base Linux Mariner"
VERSION="2.0.20220226"
ID=mariner
VERSION_ID="2.0"
PRETTY_NAME="CBL-Mariner/Linux"
ANSI_COLOR="1;34"
HOME_URL="https://aka.ms/cbl-mariner"
BUG_REPORT_URL="https://aka.ms/cbl-mariner"
SUPPORT_URL="https://aka.ms/cbl-mariner"
`
const MARINER_RELEASE = 'CBL-Mariner 2.0.20220226\nMARINER_BUILD_NUMBER=0d8f8a4\n'

/** `name installed id state fixed` lines, sorted: what a reader checks against the records by hand. */
function lines(findings: readonly { name: string; installed: string; id: string; state: string; fixedVersions: string[] }[]): string[] {
  return findings.map((f) => `${f.name} ${f.installed} ${f.id} ${f.state} ${f.fixedVersions.join(',')}`).sort()
}

/** An OS package row as an analyzer of the database at `path` yields it (source defaults to itself). */
function osPackage(path: string): (ecosystem: string, name: string, version: string, source?: string) => Package {
  return (ecosystem, name, version, source = name) => ({ kind: 'os', ecosystem, name, version, path, purl: '', source: { name: source, version } } as Package)
}

/** A temp dir, a store with `feeds` imported (each without an error) and a layer pool, for one describe block. */
function distroEnv(feeds: readonly string[]): { store: Store; pool: LayerPool; dir: string } {
  const env = {} as { store: Store; pool: LayerPool; dir: string }
  let cleanup: (() => Promise<void>) | undefined
  beforeAll(async () => {
    let dir: string
    ;({ dir, cleanup } = await tempDir('vigil-distros-'))
    env.dir = dir
    env.pool = new LayerPool({ threads: 1 })
    env.store = openStore(join(dir, 'store'))
    if (feeds.length) expect((await importFeeds(env.store, feeds)).errors).toEqual([])
  })
  afterAll(async () => {
    await env.pool?.close()
    await env.store?.close()
    await cleanup?.()
  })
  return env
}

describe.skipIf(!HAS_SHARED)('CBL-Mariner 2.0 image (real rpm SQLite db) against Microsoft\'s OVAL (vuln-list split)', () => {
  const env = distroEnv([AZURE_OVAL])

  async function scan(name: string, osRelease: string, marinerRelease: string) {
    const target = await writeOciImage(join(env.dir, name), [
      { name: 'etc/os-release', content: osRelease },
      { name: 'etc/mariner-release', content: marinerRelease },
      { name: 'var/lib/rpm/rpmdb.sqlite', content: await readFile(MARINER_DB) },
    ])
    return (await buildInventoryDetailed(target, { pool: env.pool })).inventory
  }

  it('imports every definition of the three releases; the Not Applicable one is withdrawn', async () => {
    const other = openStore(join(env.dir, 'count'))
    try {
      const report = await importFeeds(other, [AZURE_OVAL])
      // mariner 1.0: 3173 (clamav); 2.0: 7412 (wireshark), 31872-1 (edk2), 31880-1 (openssl);
      // azure 3.0: 38656-1 (ceph), 38611-1 (tensorflow), 52881-2 (golang).
      expect(report.sources['azure-oval']).toBe(7)
      expect(report.added).toBe(7)
      expect(report.sources['oval-parts']).toBe(0)
    } finally {
      await other.close()
    }
  })

  it('detects Mariner 2.0, with the vendor\'s end of life', async () => {
    const inventory = await scan('mariner-2', MARINER_OS_RELEASE, MARINER_RELEASE)
    expect(inventory.os).toMatchObject({ family: 'mariner', version: '2.0', ecosystem: 'Mariner:2.0', endOfLife: '2025-07-31' })
    expect(inventory.packages.filter((p) => p.kind === 'os')).toHaveLength(129)
  })

  it('finds exactly what the records say: openssl and openssl-libs 1.1.1k-7.cm2 < 1.1.1k-28.cm2 (CVE-2023-5678)', async () => {
    const inventory = await scan('mariner-2b', MARINER_OS_RELEASE, MARINER_RELEASE)
    // By hand from definitions/2023/31880-1.json → tst:31880000 → obj:31880001 (openssl) +
    // ste:31880002 (`less than 0:1.1.1k-28.cm2`). openssl-libs is built from openssl.src.rpm.
    // Not found, each for its reason: edk2 (31872-1) and wireshark (7412) are not installed;
    // clamav is Mariner 1.0's, ceph/tensorflow/golang Azure Linux 3.0's.
    expect(lines(matchInventory(env.store, inventory))).toEqual([
      'openssl 1.1.1k-7.cm2 CVE-2023-5678 fixed 1.1.1k-28.cm2',
      'openssl-libs 1.1.1k-7.cm2 CVE-2023-5678 fixed 1.1.1k-28.cm2',
    ])
  })

  it('the same database labelled Mariner 1.0 meets none of 2.0\'s records (other release)', async () => {
    const inventory = await scan('mariner-1', MARINER_OS_RELEASE.replace('VERSION_ID="2.0"', 'VERSION_ID="1.0"'), 'CBL-Mariner 1.0.20210901\n')
    expect(inventory.os?.ecosystem).toBe('Mariner:1.0')
    expect(matchInventory(env.store, inventory)).toEqual([])
  })

  it('a package at the fixed EVR is not reported (fixed); below a `less than or equal` state it is, unfixed', () => {
    const os = osInfoFromFacts([{ path: 'etc/os-release', os: parseReleaseFile('etc/os-release', MARINER_OS_RELEASE)! }])!
    const rpm = (name: string, version: string) => osPackage('var/lib/rpm/rpmdb.sqlite')('Mariner:2.0', name, version)
    expect(matchPackage(env.store, rpm('openssl', '1.1.1k-28.cm2'), os)).toEqual([])
    expect(lines(matchPackage(env.store, rpm('openssl', '1.1.1k-27.cm2'), os))).toEqual(['openssl 1.1.1k-27.cm2 CVE-2023-5678 fixed 1.1.1k-28.cm2'])
    // 7412: wireshark `less than or equal 0:3.4.4-2.cm1`, Patchable false: affected, no fix.
    expect(lines(matchPackage(env.store, rpm('wireshark', '3.4.4-2.cm1'), os))).toEqual(['wireshark 3.4.4-2.cm1 CVE-2021-39924 affected '])
    expect(matchPackage(env.store, rpm('wireshark', '3.4.4-3.cm1'), os)).toEqual([])
  })
})

describe.skipIf(!HAS_SHARED)('Wolfi and Chainguard secdb, Amazon ALAS: real records', () => {
  const env = distroEnv([])
  const apk = osPackage('lib/apk/db/installed')
  const rpm = osPackage('var/lib/rpm/Packages')

  it('Wolfi and Chainguard binutils: each secfix is a fix in its own distro only', async () => {
    const report = await importFeeds(env.store, [join(VULNSRC, 'wolfi', 'testdata', 'happy'), join(VULNSRC, 'chainguard', 'testdata', 'happy')])
    expect(report.errors).toEqual([])
    // Counted per format: two records from each distro's binutils.json.
    expect(report.sources).toEqual({ 'wolfi-secdb': 4 })
    // binutils.json: 2.39-r1 fixes CVE-2022-38126, 2.39-r2 fixes CVE-2022-38533 (same in both files).
    for (const eco of ['Wolfi', 'Chainguard']) {
      expect(lines(matchPackage(env.store, apk(eco, 'binutils', '2.39-r0')))).toEqual([
        'binutils 2.39-r0 CVE-2022-38126 fixed 2.39-r1',
        'binutils 2.39-r0 CVE-2022-38533 fixed 2.39-r2',
      ])
      expect(lines(matchPackage(env.store, apk(eco, 'binutils', '2.39-r1')))).toEqual(['binutils 2.39-r1 CVE-2022-38533 fixed 2.39-r2'])
      expect(matchPackage(env.store, apk(eco, 'binutils', '2.39-r2'))).toEqual([])
    }
    // Not Alpine's: an Alpine binutils meets neither distro's records.
    expect(matchPackage(env.store, apk('Alpine:v3.19', 'binutils', '2.39-r0'))).toEqual([])
  })

  it('Wolfi secdb with a secfixes entry that is not a list is reported, not imported', async () => {
    const report = await importFeeds(env.store, [join(VULNSRC, 'wolfi', 'testdata', 'sad')])
    // sad/binutils.json is not even JSON (a trailing comma): ERR_FEED_INVALID.
    expect(report.errors.map((e) => e.code)).toEqual(['ERR_FEED_INVALID'])
  })

  it('Amazon ALAS for Amazon Linux 1, 2 and 2022: fixed versions per release, CVE ids with the ALAS as alias', async () => {
    const report = await importFeeds(env.store, [join(VULNSRC, 'amazon', 'testdata', 'happy')])
    expect(report.errors).toEqual([])
    expect(report.sources['amazon-alas']).toBeGreaterThan(0)
    // ALAS-2018-1093 (AL1): git 2.14.5-1.59.amzn1 fixes CVE-2018-17456.
    const git = matchPackage(env.store, rpm('Amazon Linux:1', 'git', '2.14.4-1.58.amzn1'))
    expect(lines(git)).toEqual(['git 2.14.4-1.58.amzn1 CVE-2018-17456 fixed 2.14.5-1.59.amzn1'])
    expect(git[0]!.aliases).toContain('ALAS-2018-1093')
    expect(git[0]!.severity).toBe('HIGH')
    expect(matchPackage(env.store, rpm('Amazon Linux:1', 'git', '2.14.5-1.59.amzn1'))).toEqual([])
    // ALAS2-2021-1699 (AL2): kernel 4.14.243-185.433.amzn2 fixes CVE-2021-22543; kernel-headers
    // is built from kernel.src.rpm and so meets the kernel record.
    expect(lines(matchPackage(env.store, rpm('Amazon Linux:2', 'kernel-headers', '4.14.238-182.422.amzn2', 'kernel')))).toEqual([
      'kernel-headers 4.14.238-182.422.amzn2 CVE-2021-22543 fixed 4.14.243-185.433.amzn2',
    ])
    // Other release: AL2's kernel advisory does not apply to an AL1 kernel.
    expect(matchPackage(env.store, rpm('Amazon Linux:1', 'kernel', '4.14.238-182.422.amzn1'))).toEqual([])
    // ALAS2022-2021-003: log4j 2.15.0-1.amzn2022.0.1 fixes CVE-2021-44228.
    expect(lines(matchPackage(env.store, rpm('Amazon Linux:2022', 'log4j', '2.14.1-1.amzn2022')))).toContainEqual('log4j 2.14.1-1.amzn2022 CVE-2021-44228 fixed 2.15.0-1.amzn2022.0.1')
  })
})

const UBUNTU_OSV = sharedPath('advisories', 'vunnel', 'tests', 'unit', 'providers', 'ubuntu', 'test-fixtures', 'osv')
const UBUNTU_STATUS = sharedPath('pkgdb', 'dpkg', 'claircore', 'texlive.status')
// Ubuntu 18.04's os-release as base-files 10.1ubuntu2 writes it (the status file's release).
const UBUNTU_1804_OS_RELEASE = `NAME="Ubuntu"
VERSION="18.04.6 LTS (Bionic Beaver)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 18.04.6 LTS"
VERSION_ID="18.04"
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
VERSION_CODENAME=bionic
UBUNTU_CODENAME=bionic
`

describe.skipIf(!HAS_SHARED)('Ubuntu 18.04 image (claircore\'s real dpkg status) against Ubuntu\'s own OSV records', () => {
  const env = distroEnv([UBUNTU_OSV])

  it('is detected as Ubuntu:18.04, past its end of standard support, and gets no finding from Pro-only or other-release records', async () => {
    const target = await writeOciImage(join(env.dir, 'bionic'), [
      { name: 'etc/os-release', content: UBUNTU_1804_OS_RELEASE },
      { name: 'etc/lsb-release', content: 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=18.04\nDISTRIB_CODENAME=bionic\nDISTRIB_DESCRIPTION="Ubuntu 18.04.6 LTS"\n' },
      { name: 'var/lib/dpkg/status', content: await readFile(UBUNTU_STATUS) },
    ])
    const { inventory } = await buildInventoryDetailed(target, { pool: env.pool })
    expect(inventory.os).toMatchObject({ family: 'ubuntu', version: '18.04', ecosystem: 'Ubuntu:18.04', endOfLife: '2023-05-31' })
    expect(isPastEndOfLife(inventory.os?.endOfLife, new Date('2026-12-08T00:00:00Z'))).toBe(true)
    // Flagged in the table report, and carried in JSON results.
    const report = { inventory, findings: [], suppressed: [], generatedAt: '2026-12-08T00:00:00.000Z' }
    expect(renderTable(report)).toContain('Ubuntu 18.04.6 LTS reached its end of life on 2023-05-31: its vendor publishes no more fixes')
    expect(JSON.parse(JSON.stringify(toJsonReport(report))).os).toMatchObject({ endOfLife: '2023-05-31' })
    const libc6 = inventory.packages.find((p) => p.name === 'libc6')!
    expect(libc6).toMatchObject({ version: '2.27-3ubuntu1', source: { name: 'glibc' } })
    // By hand: UBUNTU-CVE-2016-20013 lists glibc for 18.04 only under `Ubuntu:Pro:18.04:LTS` (ESM,
    // a repository this image does not have); its 22.04/24.04 glibc entries are other releases.
    // UBUNTU-CVE-2021-3782 / USN-5614-1 (wayland), -2013-2208 (tpp, 14.04), -2020-36325 (jansson,
    // Pro 14.04), -2026-1403 (gitlab, 16.04): nothing installed or another release.
    expect(matchInventory(env.store, inventory)).toEqual([])
    // The same glibc under 22.04 meets that release's unfixed entry (introduced 0, no fix).
    const jammy = matchPackage(env.store, { ...libc6, ecosystem: 'Ubuntu:22.04' })
    expect(lines(jammy)).toEqual(['libc6 2.27-3ubuntu1 UBUNTU-CVE-2016-20013 affected '])
  })
})

describe.skipIf(!HAS_SHARED)('Photon OS CVE metadata: real records', () => {
  it('res_ver is the fix; NA is unfixed; each entry is its own release', async () => {
    const { dir, cleanup } = await tempDir('vigil-distros-photon-')
    const store = openStore(join(dir, 'store'))
    try {
      const report = await importFeeds(store, [join(VULNSRC, 'photon', 'testdata', 'happy')])
      expect(report.errors).toEqual([])
      expect(report.sources).toEqual({ 'photon-cve': 2 })
      const rpm = osPackage('var/lib/rpm/rpmdb.sqlite')
      // 3.0/apache-tomcat/CVE-2019-0199.json: res_ver 8.5.40-1.ph3.
      expect(lines(matchPackage(store, rpm('Photon OS:3.0', 'apache-tomcat', '8.5.39-1.ph3')))).toEqual(['apache-tomcat 8.5.39-1.ph3 CVE-2019-0199 fixed 8.5.40-1.ph3'])
      expect(matchPackage(store, rpm('Photon OS:3.0', 'apache-tomcat', '8.5.40-1.ph3'))).toEqual([])
      expect(matchPackage(store, rpm('Photon OS:4.0', 'apache-tomcat', '8.5.39-1.ph4'))).toEqual([])
      // 3.0/curl/CVE-2025-0725.json: res_ver NA.
      expect(lines(matchPackage(store, rpm('Photon OS:3.0', 'curl', '8.11.1-1.ph3')))).toEqual(['curl 8.11.1-1.ph3 CVE-2025-0725 affected '])
      const bad = await importFeeds(store, [join(VULNSRC, 'photon', 'testdata', 'sad')])
      expect(bad.errors.map((e) => e.code)).toEqual(['ERR_FEED_INVALID'])
    } finally {
      await store.close()
      await cleanup()
    }
  })
})

const SUSE_CVRF = join(VULNSRC, 'suse-cvrf', 'testdata', 'happy')
const SLE_BCI_DB = sharedPath('pkgdb', 'rpm', 'go-rpmdb', 'sle15-bci', 'Packages.db')
// SLE BCI 15 SP3's os-release (sles-release 15.3-55.4.1, the package in the database below).
const SLES_153_OS_RELEASE = `NAME="SLES"
VERSION="15-SP3"
VERSION_ID="15.3"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP3"
ID="sles"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:15:sp3"
DOCUMENTATION_URL="https://documentation.suse.com/"
`

describe.skipIf(!HAS_SHARED)('SUSE and openSUSE CVRF: real records, product naming', () => {
  const env = distroEnv([SUSE_CVRF])
  const rpm = osPackage('usr/lib/sysimage/rpm/Packages.db')

  it('openSUSE Leap 15.1 strongswan: the five CVEs of openSUSE-SU-2019:2598-1, by source for a subpackage; not on Leap 15.2', () => {
    const ids = ['CVE-2018-10811', 'CVE-2018-16151', 'CVE-2018-16152', 'CVE-2018-17540', 'CVE-2018-5388']
    const libs = matchPackage(env.store, rpm('openSUSE:Leap 15.1', 'strongswan-libs0', '5.6.0-lp151.4.2.1', 'strongswan'))
    expect(lines(libs)).toEqual(ids.map((id) => `strongswan-libs0 5.6.0-lp151.4.2.1 ${id} fixed 5.6.0-lp151.4.3.1`).sort())
    expect(libs[0]!.aliases).toEqual(['openSUSE-SU-2019:2598-1'])
    expect(matchPackage(env.store, rpm('openSUSE:Leap 15.1', 'strongswan', '5.6.0-lp151.4.3.1'))).toEqual([])
    expect(matchPackage(env.store, rpm('openSUSE:Leap 15.2', 'strongswan', '5.6.0-lp151.4.2.1'))).toEqual([])
  })

  it('an SLES 15 SP1 image meets its modules\' advisories (Containers module), not Package Hub\'s or SLE Micro\'s', () => {
    // SUSE-SU-2019:0048-2: helm-mirror 0.2.1-1.7.1 in "SUSE Linux Enterprise Module for Containers 15 SP1".
    expect(lines(matchPackage(env.store, rpm('SUSE:Linux Enterprise Server 15 SP1', 'helm-mirror', '0.2.1-1.6.1')))).toEqual([
      'helm-mirror 0.2.1-1.6.1 CVE-2018-16873 fixed 0.2.1-1.7.1',
      'helm-mirror 0.2.1-1.6.1 CVE-2018-16874 fixed 0.2.1-1.7.1',
      'helm-mirror 0.2.1-1.6.1 CVE-2018-16875 fixed 0.2.1-1.7.1',
    ])
    // Other service pack.
    expect(matchPackage(env.store, rpm('SUSE:Linux Enterprise Server 15 SP2', 'helm-mirror', '0.2.1-1.6.1'))).toEqual([])
    // openSUSE-SU-2019:0003-1 fixes GraphicsMagick in "SUSE Package Hub for SUSE Linux Enterprise 15": another repository.
    expect(matchPackage(env.store, rpm('SUSE:Linux Enterprise Server 15', 'GraphicsMagick', '1.3.29-bp150.2.11.1'))).toEqual([])
    // SUSE-SU-2024:2546-1 fixes gnutls 3.7.3-150400.8.1 in SLE Micro 5.3 only.
    expect(matchPackage(env.store, rpm('SUSE:Linux Enterprise Server 15 SP4', 'gnutls', '3.7.3-150400.4.1'))).toEqual([])
    expect(lines(matchPackage(env.store, rpm('SUSE:Linux Enterprise Micro 5.3', 'libgnutls30', '3.7.3-150400.4.1', 'gnutls')))).toEqual([
      'libgnutls30 3.7.3-150400.4.1 CVE-2024-28834 fixed 3.7.3-150400.8.1',
      'libgnutls30 3.7.3-150400.4.1 CVE-2024-28835 fixed 3.7.3-150400.8.1',
    ])
  })

  it('an SLE BCI 15 SP3 image (go-rpmdb\'s real NDB database) is detected, dated, and none of these advisories names its packages', async () => {
    const target = await writeOciImage(join(env.dir, 'bci'), [
      { name: 'etc/os-release', content: SLES_153_OS_RELEASE },
      { name: 'usr/lib/sysimage/rpm/Packages.db', content: await readFile(SLE_BCI_DB) },
    ])
    const { inventory } = await buildInventoryDetailed(target, { pool: env.pool })
    expect(inventory.os).toMatchObject({ family: 'sles', version: '15.3', ecosystem: 'SUSE:Linux Enterprise Server 15 SP3', endOfLife: '2022-12-31' })
    expect(inventory.packages.filter((p) => p.kind === 'os')).toHaveLength(35)
    expect(matchInventory(env.store, inventory)).toEqual([])
  })
})

describe.skipIf(!HAS_SHARED)('Oracle Linux OVAL (ELSA): real records', () => {
  const oval = (dir: string) => join(VULNSRC, 'oracle-oval', 'testdata', dir)
  const env = distroEnv([oval('multi-arch'), oval('multi-flavor'), oval('ksplice'), oval('happy')])
  const rpm = osPackage('var/lib/rpm/rpmdb.sqlite')

  it('ELSA-2014-1306 fixes bash per release; the finding is the ELSA with its CVEs', () => {
    // Oracle Linux 7: bash is earlier than 0:4.2.45-5.el7_0.4 (every arch).
    const ol7 = matchPackage(env.store, rpm('Oracle Linux:7', 'bash', '4.2.45-5.el7_0.2'))
    expect(lines(ol7)).toEqual(['bash 4.2.45-5.el7_0.2 ELSA-2014-1306 fixed 4.2.45-5.el7_0.4'])
    expect([...ol7[0]!.aliases].sort()).toEqual(['CVE-2014-7169', 'CVE-2014-7186', 'CVE-2014-7187'])
    expect(ol7[0]!.severity).toBe('HIGH')
    expect(matchPackage(env.store, rpm('Oracle Linux:7', 'bash', '4.2.45-5.el7_0.4'))).toEqual([])
    // Oracle Linux 6's fix is 4.1.2-15.el6_5.2: an OL6 bash below it is found under OL6's record only.
    expect(lines(matchPackage(env.store, rpm('Oracle Linux:6', 'bash', '4.1.2-15.el6_5.1')))).toEqual(['bash 4.1.2-15.el6_5.1 ELSA-2014-1306 fixed 4.1.2-15.el6_5.2'])
    expect(matchPackage(env.store, rpm('Oracle Linux:8', 'bash', '4.1.2-15.el6_5.1'))).toEqual([])
  })

  it('ELSA-2021-4451 fixes nettle at 3.4.1-7.el8; ksplice-only ELSA-2021-9280 yields no record for ordinary glibc', () => {
    expect(lines(matchPackage(env.store, rpm('Oracle Linux:8', 'nettle', '3.4.1-4.el8')))).toEqual(['nettle 3.4.1-4.el8 ELSA-2021-4451 fixed 3.4.1-7.el8'])
    expect(matchPackage(env.store, rpm('Oracle Linux:8', 'glibc', '2:2.28-151.0.1.el8'))).toEqual([])
  })

  it('ELSA-2007-0057 (Oracle Linux 5): bind-devel with its epoch; the criterion with an empty package name is skipped', () => {
    expect(lines(matchPackage(env.store, rpm('Oracle Linux:5', 'bind-devel', '30:9.3.3-7.el5')))).toEqual(['bind-devel 30:9.3.3-7.el5 ELSA-2007-0057 fixed 30:9.3.3-8.el5'])
    expect(matchPackage(env.store, rpm('Oracle Linux:5', 'bind-devel', '30:9.3.3-8.el5'))).toEqual([])
  })
})

const DISTROLESS = sharedPath('pkgdb', 'syft', 'syft', 'pkg', 'cataloger', 'debian', 'testdata', 'image-distroless-deb')
// gcr.io/distroless/base-debian11's os-release: Debian's fields, distroless's PRETTY_NAME.
const DISTROLESS_OS_RELEASE = `PRETTY_NAME="Distroless"
NAME="Debian GNU/Linux"
ID="debian"
VERSION_ID="11"
VERSION="Debian GNU/Linux 11 (bullseye)"
HOME_URL="https://github.com/GoogleContainerTools/distroless"
SUPPORT_URL="https://github.com/GoogleContainerTools/distroless/blob/master/README.md"
BUG_REPORT_URL="https://github.com/GoogleContainerTools/distroless/issues/new"
`

describe.skipIf(!HAS_SHARED)('distroless (Debian base, dpkg status.d): syft\'s real image-distroless-deb files', () => {
  it('is Debian 11 to the matcher, reads the status.d stanza (its md5sums and preinst are not stanzas)', async () => {
    const { dir, cleanup } = await tempDir('vigil-distros-distroless-')
    const pool = new LayerPool({ threads: 1 })
    try {
      const files = ['var/lib/dpkg/status.d/libsqlite3-0', 'var/lib/dpkg/status.d/libsqlite3-0.md5sums', 'var/lib/dpkg/status.d/libsqlite3-0.preinst', 'usr/share/doc/libsqlite3-0/copyright']
      const target = await writeOciImage(join(dir, 'img'), [
        { name: 'etc/os-release', content: DISTROLESS_OS_RELEASE },
        ...(await Promise.all(files.map(async (f) => ({ name: f, content: await readFile(join(DISTROLESS, f)) })))),
      ])
      const { inventory } = await buildInventoryDetailed(target, { pool })
      expect(inventory.os).toMatchObject({ family: 'debian', version: '11', ecosystem: 'Debian:11', prettyName: 'Distroless', endOfLife: '2026-08-31' })
      const os = inventory.packages.filter((p) => p.kind === 'os')
      expect(os.map((p) => `${p.name} ${p.version} ${p.source?.name}`)).toEqual(['libsqlite3-0 3.34.1-3 sqlite3'])
      expect(os[0]!.purl).toBe('pkg:deb/debian/libsqlite3-0@3.34.1-3?arch=arm64&distro=debian-11')
    } finally {
      await pool.close()
      await cleanup()
    }
  })
})

describe('OS detection, ecosystems and end of life', () => {
  const detect = (path: string, text: string) => osInfoFromFacts([{ path, os: parseReleaseFile(path, text)! }])
  it('maps each distro onto the ecosystem its advisory data uses', () => {
    expect(detect('etc/system-release', 'Amazon Linux release 2 (Karoo)\n')?.ecosystem).toBe('Amazon Linux:2')
    expect(detect('etc/os-release', 'NAME="Amazon Linux AMI"\nID="amzn"\nVERSION_ID="2018.03"\n')?.ecosystem).toBe('Amazon Linux:1')
    expect(detect('etc/os-release', 'NAME="Amazon Linux"\nID="amzn"\nVERSION_ID="2023"\n')?.ecosystem).toBe('Amazon Linux:2023')
    expect(detect('etc/oracle-release', 'Oracle Linux Server release 8.6\n')?.ecosystem).toBe('Oracle Linux:8')
    expect(detect('etc/mariner-release', 'CBL-Mariner 2.0.20220226\n')?.ecosystem).toBe('Mariner:2.0')
    expect(detect('etc/os-release', 'ID=wolfi\nNAME="Wolfi"\nVERSION_ID="20230201"\n')?.ecosystem).toBe('Wolfi')
    expect(detect('etc/os-release', 'ID="chainguard"\nNAME="Chainguard"\n')?.ecosystem).toBe('Chainguard')
    expect(detect('etc/os-release', 'NAME="SLE Micro"\nVERSION_ID="5.3"\nID="sle-micro"\n')?.ecosystem).toBe('SUSE:Linux Enterprise Micro 5.3')
    expect(detect('etc/photon-release', 'VMware Photon OS 3.0\nPHOTON_BUILD_NUMBER=a0f216d\n')?.ecosystem).toBe('Photon OS:3.0')
  })
  it('dates end of life from the table and flags it only after the last supported day', () => {
    expect(endOfLife('centos', '7.9.2009')).toBe('2024-06-30')
    expect(endOfLife('ubuntu', '18.04')).toBe('2023-05-31')
    expect(endOfLife('amzn', '2018.03')).toBe('2023-12-31')
    expect(endOfLife('alpine', '3.19.1')).toBe('2025-11-01')
    expect(endOfLife('wolfi', '20230201')).toBeUndefined()
    expect(isPastEndOfLife('2024-06-30', new Date('2024-06-30T23:00:00Z'))).toBe(false)
    expect(isPastEndOfLife('2024-06-30', new Date('2024-07-01T00:00:00Z'))).toBe(true)
    expect(isPastEndOfLife(undefined)).toBe(false)
  })
})
