import { readdirSync, readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { apkAnalyzer } from '../../src/analyzers/apk.js'
import { dpkgAnalyzer } from '../../src/analyzers/dpkg.js'
import { rpmAnalyzer, rpmManifestAnalyzer, splitSourceRpm } from '../../src/analyzers/rpm.js'
import { HAS_SHARED, noteSharedMissing, sharedPath } from '../helpers/shared.js'
import { type Agreement, agreement, parseWith, readBytes, readTxtar, rpmWants, tsvRows, type Want } from './os-helpers.js'

/**
 * Every apk, dpkg and rpm fixture in ../shared/data/pkgdb against its expected package list.
 * Exceptions (fixtures that cannot agree, and why) are in docs/analyzers-os.md and asserted here
 * as exactly what the doc says.
 */

noteSharedMissing('OS package database fixtures')

const TRIVY = 'pkgdb/trivy/pkg/fanal/analyzer/pkg'
const SYFT = 'pkgdb/syft/syft/pkg/cataloger'
const results: Agreement[] = []

function check(a: Agreement): void {
  results.push(a)
  expect(a.mismatches, a.fixture).toEqual([])
  expect(a.agreed).toBe(a.expected)
}

afterAll(() => {
  if (!results.length) return
  const lines = results.map((r) => `  ${r.fixture.padEnd(72)} ${r.agreed}/${r.expected} agree (${r.got} parsed)`)
  const total = results.reduce((n, r) => n + r.expected, 0)
  const agreed = results.reduce((n, r) => n + r.agreed, 0)
  console.log(`OS package fixtures: ${agreed}/${total} packages agree over ${results.length} fixtures\n${lines.join('\n')}`)
})

/** Trivy's TSV: `input case name version {json}`; its Version has neither epoch nor revision. */
function trivyWants(tsv: string, input: string, withSource: boolean): Want[] {
  return tsvRows(sharedPath(tsv))
    .filter((r) => r[0] === input)
    .map(([, , name, version, json]) => {
      const f = JSON.parse(json ?? '{}') as Record<string, string | number | undefined>
      const id = typeof f.ID === 'string' ? f.ID : undefined
      const full = id?.startsWith(`${name}@`) ? id.slice(name!.length + 1) : version!
      const srcVersion = f.SrcVersion === undefined ? undefined : `${f.SrcEpoch ? `${f.SrcEpoch}:` : ''}${f.SrcVersion}${f.SrcRelease ? `-${f.SrcRelease}` : ''}`
      return {
        name: name!,
        version: full,
        ...(typeof f.Arch === 'string' ? { arch: f.Arch } : {}),
        ...(withSource && typeof f.SrcName === 'string' ? { sourceName: f.SrcName } : {}),
        ...(withSource && srcVersion ? { sourceVersion: srcVersion } : {}),
      }
    })
}

describe.skipIf(!HAS_SHARED)('apk fixtures', () => {
  it('trivy testdata/apk', async () => {
    const r = await parseWith(apkAnalyzer, readBytes(sharedPath(TRIVY, 'apk/testdata/apk')), 'lib/apk/db/installed')
    check(agreement('trivy apk/testdata/apk', r.packages ?? [], trivyWants(`${TRIVY}/apk/expected_packages.tsv`, './testdata/apk', true)))
    // Trivy's InstalledFiles for each package are F:/R: lines; every one must be among our owned files.
    const cases = JSON.parse(readFileSync(sharedPath(TRIVY, 'apk/expected.json'), 'utf8')) as { cases: Array<{ want: { wantPkgs?: Array<{ InstalledFiles?: string[] }> } }> }
    const installed = cases.cases.flatMap((c) => c.want.wantPkgs ?? []).flatMap((p) => p.InstalledFiles ?? [])
    expect(installed.length).toBeGreaterThan(50)
    const owned = new Set(r.ownedFiles)
    expect(installed.filter((f) => !owned.has(f))).toEqual([])
  })

  // syft's TSV has two rows per package (the package and its metadata): deduplicate.
  const syftRows = HAS_SHARED ? tsvRows(sharedPath(SYFT, 'alpine/expected_packages.tsv')) : []
  const syftInputs: Array<[string, string]> = [
    ['testdata/single', 'testdata/single'],
    ['testdata/empty-deps-and-provides', 'testdata/empty-deps-and-provides'],
    ['testdata/base', 'testdata/base'],
    ['["testdata/multiple-1"]', 'testdata/multiple-1/lib/apk/db/installed'],
  ]
  it.each(syftInputs)('syft alpine %s', async (input, file) => {
    const wants = new Map<string, Want>()
    for (const [inp, , name, version, json] of syftRows) {
      if (inp !== input) continue
      const f = JSON.parse(json ?? '{}') as Record<string, unknown>
      const prev = wants.get(`${name}@${version}`) ?? { name: name!, version: version! }
      if (typeof f.OriginPackage === 'string') prev.sourceName = f.OriginPackage
      if (typeof f.Architecture === 'string') prev.arch = f.Architecture
      wants.set(`${name}@${version}`, prev)
    }
    const r = await parseWith(apkAnalyzer, readBytes(sharedPath(SYFT, 'alpine', file)), 'lib/apk/db/installed')
    check(agreement(`syft alpine ${file}`, r.packages ?? [], [...wants.values()]))
  })

  it('syft alpine corrupt: the non-field line is skipped, the package after it is kept (documented)', async () => {
    const r = await parseWith(apkAnalyzer, readBytes(sharedPath(SYFT, 'alpine/testdata/corrupt/lib/apk/db/installed')), 'lib/apk/db/installed')
    expect(r.packages?.map((p) => `${p.name}@${p.version}`)).toEqual(['alpine-baselayout-data@3.2.0-r22'])
  })
})

describe.skipIf(!HAS_SHARED)('dpkg fixtures', () => {
  const txtars = ['valid', 'corrupsed', 'only-apt', 'digest', 'md5sums', 'third-party']
  it.each(txtars)('trivy dpkg testdata/%s.txtar', async (name) => {
    const files = readTxtar(sharedPath(TRIVY, `dpkg/testdata/${name}.txtar`))
    const status = files.get('var/lib/dpkg/status')
    expect(status).toBeDefined()
    const r = await parseWith(dpkgAnalyzer, status!, 'var/lib/dpkg/status')
    check(agreement(`trivy dpkg ${name}.txtar`, r.packages ?? [], trivyWants(`${TRIVY}/dpkg/expected_packages.tsv`, `testdata/${name}.txtar`, true)))
  })

  const syftDebian = HAS_SHARED ? tsvRows(sharedPath(SYFT, 'debian/expected_packages.tsv')) : []
  const statusD = ['single', 'installed-size-4KB', 'multiple', 'deinstall']
  it.each(statusD)('syft debian status.d/%s', async (name) => {
    const input = `testdata/var/lib/dpkg/status.d/${name}`
    const wants: Want[] = syftDebian
      .filter((r) => r[0] === input)
      .map(([, , pkg, version, json]) => {
        const f = JSON.parse(json ?? '{}') as Record<string, unknown>
        return { name: pkg!, version: version!, sourceName: typeof f.Source === 'string' ? f.Source : pkg!, ...(typeof f.Architecture === 'string' ? { arch: f.Architecture } : {}) }
      })
    const path = `var/lib/dpkg/status.d/${name}`
    expect(dpkgAnalyzer.match({ path, size: 1, mode: 0o644 })).toBe(true)
    const r = await parseWith(dpkgAnalyzer, readBytes(sharedPath(SYFT, 'debian', input)), path)
    check(agreement(`syft debian status.d/${name}`, r.packages ?? [], wants))
  })

  it('syft distroless status.d: a stanza without Status is installed; control files are not stanzas', async () => {
    const dir = sharedPath(SYFT, 'debian/testdata/image-distroless-deb/var/lib/dpkg/status.d')
    const stanzas = readdirSync(dir).filter((f) => dpkgAnalyzer.match({ path: `var/lib/dpkg/status.d/${f}`, size: 1, mode: 0o644 }))
    expect(stanzas).toEqual(['libsqlite3-0'])
    const r = await parseWith(dpkgAnalyzer, readBytes(`${dir}/libsqlite3-0`), 'var/lib/dpkg/status.d/libsqlite3-0')
    expect(r.packages?.map((p) => [p.name, p.version, p.source?.name])).toEqual([['libsqlite3-0', '3.34.1-3', 'sqlite3']])
  })

  const claircore = ['debian-only', 'postgresql', 'texlive']
  it.each(claircore)('claircore %s.status (dpkg-query)', async (name) => {
    const wants: Want[] = tsvRows(sharedPath(`pkgdb/dpkg/claircore/${name}.expected_packages.tsv`)).map(([pkg, version, arch, source]) => {
      const [srcName, srcVersion] = (source ?? '').split(' ')
      return { name: pkg!, version: version!, arch: arch!, sourceName: srcName!, sourceVersion: srcVersion! }
    })
    const r = await parseWith(dpkgAnalyzer, readBytes(sharedPath(`pkgdb/dpkg/claircore/${name}.status`)), 'var/lib/dpkg/status')
    check(agreement(`claircore ${name}.status`, r.packages ?? [], wants))
  })

  it('claircore vcpkg.status: dpkg-query rejects the file; we keep every stanza that has a Version (documented)', async () => {
    const tsv = readFileSync(sharedPath('pkgdb/dpkg/claircore/vcpkg.expected_packages.tsv'), 'utf8')
    expect(tsv).toContain("missing 'Version' field")
    const text = readFileSync(sharedPath('pkgdb/dpkg/claircore/vcpkg.status'), 'utf8')
    const withVersion = text.split('\n\n').filter((s) => /^Version: /m.test(s)).length
    const r = await parseWith(dpkgAnalyzer, readBytes(sharedPath('pkgdb/dpkg/claircore/vcpkg.status')), 'var/lib/dpkg/status')
    expect(r.packages).toHaveLength(withVersion)
    expect(r.packages?.map((p) => p.name)).toContain('xxhash')
    expect(new Set(r.packages?.map((p) => p.arch))).toEqual(new Set(['x64-windows', 'x86-windows']))
  })
})

describe.skipIf(!HAS_SHARED)('rpm fixtures', () => {
  const dbs: Array<[string, string, string]> = [
    ['pkgdb/rpm/go-rpmdb/cbl-mariner-2.0/rpmdb.sqlite', 'pkgdb/rpm/go-rpmdb/cbl-mariner-2.0/expected_packages.tsv', 'var/lib/rpm/rpmdb.sqlite'],
    ['pkgdb/rpm/go-rpmdb/sle15-bci/Packages.db', 'pkgdb/rpm/go-rpmdb/sle15-bci/expected_packages.tsv', 'usr/lib/sysimage/rpm/Packages.db'],
    ['pkgdb/rpm/go-rpmdb/libuuid/Packages', 'pkgdb/rpm/go-rpmdb/libuuid/expected_packages.tsv', 'var/lib/rpm/Packages'],
    ['pkgdb/rpm/rpm-upstream-tests/rpmdb.sqlite', 'pkgdb/rpm/rpm-upstream-tests/expected_packages.tsv', 'var/lib/rpm/rpmdb.sqlite'],
    [`${SYFT}/redhat/testdata/Packages`, `${SYFT}/redhat/testdata/Packages.rpm-qa.expected_packages.tsv`, 'var/lib/rpm/Packages'],
    ['e2e/grype/test/integration/testdata/image-centos-match-coverage/var/lib/rpm/Packages', 'e2e/grype/test/integration/testdata/image-centos-match-coverage/var/lib/rpm/Packages.rpm-qa.expected_packages.tsv', 'var/lib/rpm/Packages'],
    ['e2e/grype/test/integration/testdata/image-sles-match-coverage/var/lib/rpm/Packages', 'e2e/grype/test/integration/testdata/image-sles-match-coverage/var/lib/rpm/Packages.rpm-qa.expected_packages.tsv', 'var/lib/rpm/Packages'],
  ]
  it.each(dbs)('%s', async (db, tsv, path) => {
    expect(rpmAnalyzer.match({ path, size: 1, mode: 0o644 })).toBe(true)
    // rpm -qa lists imported signing keys as gpg-pubkey packages; they are not software (documented).
    const wants = rpmWants(sharedPath(tsv)).filter((w) => w.name !== 'gpg-pubkey')
    const r = await parseWith(rpmAnalyzer, readBytes(sharedPath(db)), path)
    check(agreement(db, r.packages ?? [], wants))
    expect(r.ownedFiles?.length).toBeGreaterThan(0)
  })

  it('cbl-mariner curl owns /usr/bin/curl; go-rpmdb checks curl 7.76.0-6.cm2', async () => {
    const r = await parseWith(rpmAnalyzer, readBytes(sharedPath('pkgdb/rpm/go-rpmdb/cbl-mariner-2.0/rpmdb.sqlite')), 'var/lib/rpm/rpmdb.sqlite')
    expect(r.packages?.find((p) => p.name === 'curl')?.version).toBe('7.76.0-6.cm2')
    expect(r.ownedFiles).toContain('usr/bin/curl')
  })

  it('syft container-manifest-2 (CBL-Mariner distroless)', async () => {
    const wants = new Map<string, Want>()
    for (const [input, , name, version, json] of tsvRows(sharedPath(SYFT, 'redhat/expected_packages.tsv'))) {
      if (input !== '["testdata/container-manifest-2"]') continue
      const f = JSON.parse(json ?? '{}') as Record<string, unknown>
      const want = wants.get(name!) ?? { name: name!, version: '' }
      // The row with a purl carries syft's full [epoch:]version-release; the metadata row the rest.
      if (typeof f.PURL === 'string') want.version = version!
      if (typeof f.Arch === 'string') want.arch = f.Arch
      if (typeof f.SourceRpm === 'string') want.sourceName = splitSourceRpm(f.SourceRpm)?.name ?? ''
      wants.set(name!, want)
    }
    const path = 'var/lib/rpmmanifest/container-manifest-2'
    expect(rpmManifestAnalyzer.match({ path, size: 1, mode: 0o644 })).toBe(true)
    const r = await parseWith(rpmManifestAnalyzer, readBytes(sharedPath(SYFT, 'redhat/testdata/container-manifest-2')), path)
    check(agreement('syft redhat container-manifest-2', r.packages ?? [], [...wants.values()]))
  })

  it('trivy source rpm names: valid and invalid', () => {
    expect(splitSourceRpm('glibc-2.17-307.el7.1.src.rpm')).toEqual({ name: 'glibc', version: '2.17-307.el7.1' })
    expect(splitSourceRpm('elasticsearch-5.6.16-1-src.rpm')).toBeUndefined()
  })

  it('syft glob fixtures: empty and 5-byte placeholder files', async () => {
    const empty = await parseWith(rpmAnalyzer, readBytes(sharedPath(SYFT, 'redhat/testdata/glob-paths/usr/lib/sysimage/rpm/rpmdb.sqlite')), 'usr/lib/sysimage/rpm/rpmdb.sqlite')
    expect(empty.packages ?? []).toEqual([])
    await expect(parseWith(rpmAnalyzer, readBytes(sharedPath(SYFT, 'redhat/testdata/glob-paths/var/lib/rpm/Packages')), 'var/lib/rpm/Packages')).rejects.toMatchObject({ code: 'ERR_PKGDB_CORRUPT' })
  })
})
