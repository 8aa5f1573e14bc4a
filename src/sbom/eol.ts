/**
 * End of life of distro releases: the day the vendor stops publishing security fixes for a
 * release, so its advisory data stops and "no findings" no longer means "no known
 * vulnerabilities". One table, keyed by os-release `ID` then release (the part of `VERSION_ID`
 * the vendor supports as one release). Each date is the vendor's published one; the page is
 * named beside each family. A release missing here is simply not flagged.
 */
const END_OF_LIFE: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  // https://wiki.debian.org/LTS (end of LTS, when the security tracker stops for the release)
  debian: { '8': '2020-06-30', '9': '2022-06-30', '10': '2024-06-30', '11': '2026-08-31', '12': '2028-06-30' },
  // https://ubuntu.com/about/release-cycle (end of standard support; ESM needs Ubuntu Pro)
  ubuntu: {
    '14.04': '2019-04-30', '16.04': '2021-04-30', '18.04': '2023-05-31', '20.04': '2025-05-31', '22.04': '2027-06-01',
    '24.04': '2029-05-31', '23.04': '2024-01-25', '23.10': '2024-07-11', '24.10': '2025-07-10',
  },
  // https://alpinelinux.org/releases/ ("end of support" column)
  alpine: {
    '3.9': '2020-11-01', '3.10': '2021-05-01', '3.11': '2021-11-01', '3.12': '2022-05-01', '3.13': '2022-11-01',
    '3.14': '2023-05-01', '3.15': '2023-11-01', '3.16': '2024-05-23', '3.17': '2024-11-22', '3.18': '2025-05-09',
    '3.19': '2025-11-01', '3.20': '2026-04-01', '3.21': '2026-11-01',
  },
  // https://access.redhat.com/support/policy/updates/errata (end of Maintenance Support)
  rhel: { '6': '2020-11-30', '7': '2024-06-30', '8': '2029-05-31', '9': '2032-05-31' },
  // https://www.centos.org/centos-linux-eol/
  centos: { '6': '2020-11-30', '7': '2024-06-30', '8': '2021-12-31' },
  // https://wiki.rockylinux.org/rocky/version/
  rocky: { '8': '2029-05-31', '9': '2032-05-31' },
  // https://wiki.almalinux.org/release-notes/ (security support end)
  almalinux: { '8': '2029-03-01', '9': '2032-05-31' },
  // https://www.oracle.com/a/ocom/docs/elsp-lifetime-069338.pdf (end of Premier Support)
  ol: { '6': '2021-03-01', '7': '2024-12-31', '8': '2029-07-31', '9': '2032-06-30' },
  // https://aws.amazon.com/amazon-linux-ami/faqs/ (AL1), https://aws.amazon.com/amazon-linux-2/faqs/ (AL2)
  amzn: { '2018.03': '2023-12-31', '2': '2026-06-30', '2023': '2029-06-30' },
  // https://github.com/microsoft/azurelinux (CBL-Mariner 1.0 and 2.0 end of life announcements)
  mariner: { '1.0': '2023-07-31', '2.0': '2025-07-31' },
  // https://www.suse.com/lifecycle/ (end of general support per service pack)
  sles: { '12.5': '2024-10-31', '15.3': '2022-12-31', '15.4': '2023-12-31', '15.5': '2024-12-31' },
  // https://en.opensuse.org/Lifetime
  'opensuse-leap': { '15.3': '2022-12-31', '15.4': '2023-12-07', '15.5': '2024-12-31' },
}

/** The release key a family's table uses: Debian, RHEL and clones by major, Ubuntu, Alpine, Mariner by major.minor. */
function releaseKey(family: string, version: string): string {
  const parts = version.split(/[._]/)
  switch (family) {
    case 'ubuntu':
    case 'alpine':
    case 'mariner':
    case 'sles':
    case 'opensuse-leap':
      return parts.slice(0, 2).join('.')
    case 'amzn':
      // Amazon Linux 1 says VERSION_ID="2018.03"; AL2 "2"; AL2023 "2023".
      return version.startsWith('2018.') ? '2018.03' : (parts[0] ?? '')
    default:
      return parts[0] ?? ''
  }
}

/** The vendor's end-of-life date (`YYYY-MM-DD`) for a release, when the table knows it. */
export function endOfLife(family: string, version: string): string | undefined {
  return END_OF_LIFE[family]?.[releaseKey(family, version)]
}

/** Whether a release is past its end of life on `now` (the last supported day itself is not past). */
export function isPastEndOfLife(endOfLifeDate: string | undefined, now: Date = new Date()): boolean {
  return endOfLifeDate !== undefined && now.toISOString().slice(0, 10) > endOfLifeDate
}
