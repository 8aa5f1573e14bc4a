import { execFileSync } from 'node:child_process'
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tar from 'tar-stream'
import { describe, expect, it } from 'vitest'
import { dpkgFilesAnalyzer } from '../../src/analyzers/dpkg-files.js'
import { dpkgAnalyzer } from '../../src/analyzers/dpkg.js'
import { osReleaseAnalyzer, parseReleaseFile } from '../../src/analyzers/os-release.js'
import type { Analyzer } from '../../src/analyzers/types.js'
import { finalizeInventory, type OsFact, osInfoFromFacts } from '../../src/sbom/finalize.js'
import type { Package } from '../../src/types.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { CORPUS, hasArchive, readInfo } from '../image/corpus.js'
import { parseWith, readBytes } from './os-helpers.js'

noteSharedMissing('os-release fixtures')

async function factOf(path: string, bytes: Uint8Array): Promise<OsFact | undefined> {
  expect(osReleaseAnalyzer.match({ path, size: bytes.length, mode: 0o644 })).toBe(true)
  const r = await parseWith(osReleaseAnalyzer, bytes, path)
  return r.os ? { path, os: r.os } : undefined
}

describe.skipIf(!HAS_SHARED)('os-release fixtures', () => {
  const GRYPE = 'e2e/grype/test/integration/testdata'
  const cases: Array<[string, string, string, string, string]> = [
    // fixture, path in the image, family, version, OSV ecosystem
    ['pkgdb/syft/syft/pkg/cataloger/debian/testdata/image-dpkg/etc/os-release', 'etc/os-release', 'debian', '12', 'Debian:12'],
    [`${GRYPE}/image-alpine-match-coverage/etc/os-release`, 'etc/os-release', 'alpine', '3.12.0', 'Alpine:v3.12'],
    [`${GRYPE}/image-centos-match-coverage/etc/os-release`, 'etc/os-release', 'centos', '8', 'Red Hat'],
    [`${GRYPE}/image-debian-match-coverage/usr/lib/os-release`, 'usr/lib/os-release', 'debian', '8', 'Debian:8'],
    [`${GRYPE}/image-portage-match-coverage/etc/os-release`, 'etc/os-release', 'gentoo', '2.8', 'gentoo:2.8'],
    [`${GRYPE}/image-sles-match-coverage/etc/os-release`, 'etc/os-release', 'sles', '12.5', 'SUSE:Linux Enterprise Server 12 SP5'],
    // A terminal transcript: the `/ # cat /etc/os-release` line is not a KEY=value line and is skipped.
    ['e2e/osv-scanner/cmd/osv-scanner/scan/image/testdata/alpine-3.18-os-release', 'etc/os-release', 'alpine', '3.18.1', 'Alpine:v3.18'],
    ['e2e/osv-scanner/cmd/osv-scanner/scan/image/testdata/alpine-3.18-alpine-release', 'etc/alpine-release', 'alpine', '3.18.1', 'Alpine:v3.18'],
  ]
  it.each(cases)('%s', async (fixture, path, family, version, ecosystem) => {
    const fact = await factOf(path, readBytes(sharedPath(fixture)))
    expect(fact?.os).toMatchObject({ family, version })
    expect(osInfoFromFacts([fact!])).toMatchObject({ family, version, ecosystem })
  })
})

describe('release files without os-release', () => {
  // First lines as the distributions write them.
  const lines: Array<[string, string, string, string | undefined]> = [
    ['etc/centos-release', 'CentOS Linux release 7.6.1810 (Core)', 'centos', '7.6.1810'],
    ['etc/redhat-release', 'Red Hat Enterprise Linux Server release 7.7 (Maipo)', 'rhel', '7.7'],
    ['etc/rocky-release', 'Rocky Linux release 8.5 (Green Obsidian)', 'rocky', '8.5'],
    ['etc/almalinux-release', 'AlmaLinux release 8.5 (Arctic Sphynx)', 'almalinux', '8.5'],
    ['etc/system-release', 'Amazon Linux release 2 (Karoo)', 'amzn', '2'],
    ['etc/oracle-release', 'Oracle Linux Server release 8.0', 'ol', '8.0'],
    ['etc/photon-release', 'VMware Photon OS 3.0\nPHOTON_BUILD_NUMBER=26156e2', 'photon', '3.0'],
    ['etc/debian_version', '10.2', 'debian', '10.2'],
    ['etc/mariner-release', 'CBL-Mariner 2.0.20220226\nDISTRIB_CODENAME=Mariner', 'mariner', '2.0.20220226'],
    ['etc/lsb-release', 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=18.04\nDISTRIB_CODENAME=bionic\nDISTRIB_DESCRIPTION="Ubuntu 18.04.3 LTS"', 'ubuntu', '18.04'],
    ['etc/SuSE-release', 'SUSE Linux Enterprise Server 12 (x86_64)\nVERSION = 12\nPATCHLEVEL = 3', 'sles', '12.3'],
  ]
  it.each(lines)('%s', (path, text, family, version) => {
    expect(parseReleaseFile(path, text)).toMatchObject({ family, ...(version ? { version } : {}) })
  })

  it('os-release wins over distro files, whatever the order; for one file the newest layer wins', () => {
    const facts: OsFact[] = [
      { path: 'etc/os-release', os: { family: 'ubuntu', version: '22.04' } },
      { path: 'etc/debian_version', os: { family: 'debian', version: 'bookworm/sid' } },
      { path: 'etc/lsb-release', os: { family: 'ubuntu', version: '22.04' } },
    ]
    expect(osInfoFromFacts(facts)).toMatchObject({ family: 'ubuntu', version: '22.04', ecosystem: 'Ubuntu:22.04' })
    expect(osInfoFromFacts([...facts, { path: 'etc/os-release', os: { family: 'ubuntu', version: '24.04' } }])?.ecosystem).toBe('Ubuntu:24.04')
    expect(osInfoFromFacts([{ path: 'etc/redhat-release', os: { family: 'rhel', version: '7.7' } }, { path: 'etc/centos-release', os: { family: 'centos', version: '7.6.1810' } }])?.family).toBe('centos')
    expect(osInfoFromFacts([])).toBeUndefined()
  })

  it('quoting and escapes in os-release', async () => {
    const text = `# comment\nID="rhel"\nVERSION_ID='9.3'\nPRETTY_NAME="Red Hat \\"Enterprise\\" Linux"\n\nbogus line\n`
    const fact = await factOf('etc/os-release', new TextEncoder().encode(text))
    expect(fact?.os).toEqual({ family: 'rhel', version: '9.3', prettyName: 'Red Hat "Enterprise" Linux' })
    expect((await parseWith(osReleaseAnalyzer, new Uint8Array([0xff, 0, 1, 2]), 'etc/os-release')).os).toBeUndefined()
  })
})

/** Regular files of a docker-archive's layers that one of `analyzers` matches, in layer order. */
async function matchedFiles(archive: string, analyzers: readonly Analyzer[]): Promise<Array<{ path: string; bytes: Uint8Array }>> {
  const out: Array<{ path: string; bytes: Uint8Array }> = []
  const outer = tar.extract()
  const done = new Promise<void>((resolve, reject) => {
    outer.on('finish', resolve)
    outer.on('error', reject)
  })
  outer.on('entry', (header, stream, next) => {
    if (!header.name.endsWith('/layer.tar')) {
      stream.resume()
      stream.on('end', next)
      return
    }
    const inner = tar.extract()
    inner.on('entry', (h, s, n) => {
      const path = h.name.replace(/^\.?\//, '')
      if (h.type !== 'file' || !analyzers.some((a) => a.match({ path, size: h.size ?? 0, mode: h.mode ?? 0 }))) {
        s.resume()
        s.on('end', n)
        return
      }
      const chunks: Buffer[] = []
      s.on('data', (c: unknown) => chunks.push(c as Buffer))
      s.on('end', () => {
        out.push({ path, bytes: new Uint8Array(Buffer.concat(chunks)) })
        n()
      })
    })
    inner.on('finish', next)
    inner.on('error', (e) => outer.destroy(e))
    stream.pipe(inner)
  })
  createReadStream(archive).pipe(outer)
  await done
  return out
}

const OS_ANALYZERS = [osReleaseAnalyzer, dpkgAnalyzer, dpkgFilesAnalyzer]

async function analyzeImage(name: string): Promise<{ facts: OsFact[]; packages: Package[]; owned: string[]; status?: Uint8Array }> {
  const facts: OsFact[] = []
  const packages: Package[] = []
  const owned: string[] = []
  let status: Uint8Array | undefined
  for (const f of await matchedFiles(join(CORPUS, `${name}.docker.tar`), OS_ANALYZERS)) {
    const analyzer = OS_ANALYZERS.find((a) => a.match({ path: f.path, size: f.bytes.length, mode: 0o644 }))!
    const r = await parseWith(analyzer, f.bytes, f.path)
    if (r.os) facts.push({ path: f.path, os: r.os })
    packages.push(...(r.packages ?? []))
    owned.push(...(r.ownedFiles ?? []))
    if (f.path === 'var/lib/dpkg/status') status = f.bytes
  }
  return { facts, packages, owned, ...(status ? { status } : {}) }
}

describe.skipIf(!hasArchive('debian-minbase'))('corpus: debian-minbase', () => {
  it('os from usr/lib/os-release (etc/os-release is a symlink), packages as dpkg-query lists them', async () => {
    const { facts, packages, owned, status } = await analyzeImage('debian-minbase')
    expect(facts.map((f) => f.path).sort()).toEqual(['etc/debian_version', 'usr/lib/os-release'])
    const os = osInfoFromFacts(facts)
    expect(os).toMatchObject({ family: 'debian', version: '12', ecosystem: 'Debian:12' })

    // The peer: dpkg's own reader on the same status file.
    const admin = mkdtempSync(join(tmpdir(), 'vigil-dpkg-'))
    try {
      writeFileSync(join(admin, 'status'), status!)
      const out = execFileSync('dpkg-query', [`--admindir=${admin}`, '-W', '-f', '${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\n'], { encoding: 'utf8' })
      const want = out.split('\n').filter((l) => l.startsWith('installed\t')).map((l) => l.split('\t').slice(1).join('\t')).sort()
      const got = packages.map((p) => [p.name, p.version, p.arch, p.source?.name, p.source?.version].join('\t')).sort()
      expect(got).toEqual(want)
      expect(got).toHaveLength(readInfo('debian-minbase').dpkg_packages as number)
    } finally {
      rmSync(admin, { recursive: true, force: true })
    }

    const ownedSet = new Set(owned)
    expect(ownedSet.has('usr/bin/dpkg')).toBe(true)
    const lang: Package = { ecosystem: 'PyPI', name: 'x', version: '1', purl: 'pkg:pypi/x@1', path: 'usr/bin/dpkg', kind: 'lang' }
    const loose: Package = { ...lang, path: 'opt/app/x' }
    const final = finalizeInventory([...packages, lang, loose], os, ownedSet, { includeOsOwned: true })
    const bash = final.find((p) => p.name === 'bash')!
    expect(bash.ecosystem).toBe('Debian:12')
    expect(bash.purl).toMatch(/^pkg:deb\/debian\/bash@5\.2\.[^?]+\?arch=amd64&distro=debian-12$/)
    expect(final.filter((p) => p.kind === 'lang').map((p) => p.osOwned ?? false)).toEqual([true, false])
  })
})

describe.skipIf(!hasArchive('distroless-style'))('corpus: distroless-style', () => {
  it('status.d stanzas without Status are installed; md5sums give the owned files', async () => {
    const { facts, packages, owned } = await analyzeImage('distroless-style')
    expect(osInfoFromFacts(facts)?.ecosystem).toBe('Debian:12')
    expect(packages.map((p) => p.name).sort()).toEqual(['base-files', 'gcc-12-base', 'libc6', 'libgcc-s1', 'zlib1g'])
    expect(packages).toHaveLength(readInfo('distroless-style').dpkg_packages as number)
    expect(packages.find((p) => p.name === 'libgcc-s1')?.source?.name).toBe('gcc-12')
    // bookworm's libc6 still lists its files under /lib (usrmerge aliases it to /usr/lib).
    expect(owned).toContain('lib/x86_64-linux-gnu/libc.so.6')
    const lang: Package = { ecosystem: 'Go', name: 'x', version: '1', purl: 'pkg:golang/x@1', path: 'usr/lib/x86_64-linux-gnu/libc.so.6', kind: 'lang' }
    expect(finalizeInventory([lang], osInfoFromFacts(facts), owned, { includeOsOwned: true })[0]?.osOwned).toBe(true)
    expect(finalizeInventory([lang], osInfoFromFacts(facts), owned)).toEqual([])
  })
})
