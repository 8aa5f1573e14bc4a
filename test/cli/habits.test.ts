import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toCycloneDx } from '../../src/sbom/cyclonedx.js'
import { makeFakeImage, startFakeRegistry, type FakeRegistry } from '../image/fake-registry.js'
import { CORPUS, hasImage, noteCorpusMissing } from '../image/corpus.js'
import { HAS_SHARED, noteSharedMissing } from '../helpers/shared.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { realPypiScan, type RealScan } from '../report/fixtures.js'
import { scratchDir, vigilAsync, vigilSync } from './run.js'

noteSharedMissing('vigil scan --exit-code and the config file')
noteCorpusMissing(['distroless-style'])

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

let scratch: { path: string; dispose(): Promise<void> }
beforeAll(async () => {
  ensureBuilt()
  scratch = await scratchDir('vigil-habits-')
}, 300_000)
afterAll(async () => scratch?.dispose())

describe('vigil version and --version', () => {
  it('print the version from package.json; version compare still compares', () => {
    for (const args of [['--version'], ['-v'], ['version']]) {
      const r = vigilSync(args)
      expect(r.status, args.join(' ')).toBe(0)
      expect(r.stdout).toBe(`vigil ${VERSION}\n`)
    }
    expect(JSON.parse(vigilSync(['version', '--format', 'json']).stdout)).toEqual({ version: VERSION })
    expect(vigilSync(['version', 'compare', 'dpkg', '1:1.0-1', '2.0-1']).stdout).toBe('1\n')
  })
})

describe('-o takes a file, not a format', () => {
  it('refuses a bare format name with a hint and writes nothing', () => {
    const cwd = join(scratch.path, 'o-json')
    vigilSync(['query', 'top', '--data', join(cwd, 'data')])
    for (const [command, format] of [['scan', 'json'], ['sbom', 'cyclonedx'], ['query', 'table']] as const) {
      const args = command === 'query' ? ['query', 'top', '-o', format] : [command, 'oci:/nowhere', '-o', format]
      const r = vigilSync([...args, '--data', join(cwd, 'data')], { cwd: scratch.path })
      expect(r.status, command).toBe(2)
      expect(r.stderr).toContain(`"${format}" is a format name: use --format ${format}`)
      expect(existsSync(join(scratch.path, format))).toBe(false)
    }
  })
})

describe('--timeout', () => {
  let registry: FakeRegistry
  beforeAll(async () => {
    registry = await startFakeRegistry(await makeFakeImage())
    // The registry accepts the request and never answers: only --timeout ends the scan.
    registry.fault = (req) => req.url?.startsWith('/v2/') ?? false
  })
  afterAll(async () => registry?.stop())

  it('ends a hung scan with ERR_TIMEOUT (exit 3) and rejects a duration it cannot read (exit 2)', async () => {
    const r = await vigilAsync(['scan', `${registry.host}/repo:tag`, '--timeout', '2s', '--data', join(scratch.path, 'timeout-data')])
    expect(r.status, r.stderr).toBe(3)
    expect(r.stderr).toContain('error ERR_TIMEOUT: scan of')
    expect(r.stderr).toContain('did not finish within --timeout 2s')
    const bad = await vigilAsync(['scan', `${registry.host}/repo:tag`, '--timeout', 'soon', '--data', join(scratch.path, 'timeout-data')])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('--timeout must be a positive duration')
  })
})

describe.skipIf(!hasImage('distroless-style'))('progress on stderr that reads in a CI log', () => {
  const target = `oci:${join(CORPUS, 'distroless-style', 'oci')}`

  it('not a terminal: one plain line per step, no escape codes; --no-progress and -q: none', () => {
    const data = join(scratch.path, 'progress-data')
    const r = vigilSync(['sbom', target, '--data', data])
    expect(r.status, r.stderr).toBe(0)
    const lines = r.stderr.trimEnd().split('\n')
    expect(lines[0]).toMatch(new RegExp(`^vigil sbom: oci:.*distroless-style/oci \\(sha256:[0-9a-f]{12}…, linux/amd64\\): 1 layer\\(s\\), \\d+\\.\\d MiB$`))
    expect(lines[1]).toMatch(/^vigil sbom: layer 1\/1 [0-9a-f]{12} \d+\.\d MiB$/)
    expect(lines[2]).toMatch(/^vigil sbom: 5 packages found in \d+\.\d s$/)
    expect(r.stderr).not.toMatch(/[\r\x1b]/)
    // The layer is cached now, and says so.
    expect(vigilSync(['sbom', target, '--data', data]).stderr).toMatch(/layer 1\/1 [0-9a-f]{12} \d+\.\d MiB \(cached\)/)
    for (const flag of ['--no-progress', '-q']) {
      const quiet = vigilSync(['sbom', target, '--data', data, flag])
      expect(quiet.status).toBe(0)
      expect(quiet.stderr).toBe('')
    }
  })
})

describe.skipIf(!HAS_SHARED)('--exit-code and the config file, on a CycloneDX SBOM with real PyPI findings', () => {
  let scan: RealScan
  let sbom: string
  let anyCritical: boolean
  beforeAll(async () => {
    scan = await realPypiScan()
    anyCritical = scan.findings.some((f) => f.severity === 'CRITICAL')
    // The CLI opens the store itself.
    await scan.store.close()
    sbom = join(scratch.path, 'pyapp.cdx.json')
    writeFileSync(sbom, JSON.stringify(toCycloneDx(scan.inventory)))
  }, 120_000)
  afterAll(async () => scan?.cleanup())

  it('--exit-code N alone fails on any finding; with --fail-on it replaces exit 1', () => {
    expect(scan.findings.length).toBeGreaterThan(0)
    const any = vigilSync(['scan', `sbom:${sbom}`, '--data', scan.dataDir, '--exit-code', '7', '-f', 'json'])
    expect(any.status, any.stderr).toBe(7)
    expect(any.stderr).toContain('policy failed:')
    expect(any.stderr).toContain('at --exit-code 7')
    const critical = vigilSync(['scan', `sbom:${sbom}`, '--data', scan.dataDir, '--exit-code', '5', '--fail-on', 'CRITICAL', '-f', 'json'])
    expect(critical.status).toBe(anyCritical ? 5 : 0)
    expect(vigilSync(['scan', `sbom:${sbom}`, '--data', scan.dataDir, '--fail-on', 'LOW', '-f', 'json']).status).toBe(1)
    expect(vigilSync(['scan', `sbom:${sbom}`, '--data', scan.dataDir, '--exit-code', '0']).status).toBe(2)
  })

  it('takes defaults from ./vigil.yaml, --config and $VIGIL_CONFIG; flags > env > file; a bad key is ERR_CONFIG', async () => {
    const cwd = (await scratchDir('vigil-config-')).path
    const empty = join(scratch.path, 'empty-data')
    writeFileSync(join(cwd, 'vigil.yaml'), `data: ${scan.dataDir}\nscan:\n  format: json\n  exit-code: 9\n  severity: [CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN]\n`)
    const fromFile = vigilSync(['scan', `sbom:${sbom}`], { cwd, env: { HOME: scratch.path } })
    expect(fromFile.status, fromFile.stderr).toBe(9)
    const report = JSON.parse(fromFile.stdout) as { findings: { severity: string }[] }
    expect(report.findings.length).toBeGreaterThan(0)
    expect(report.findings.every((f) => f.severity !== 'NEGLIGIBLE')).toBe(true)

    // A flag beats the file.
    const table = vigilSync(['scan', `sbom:${sbom}`, '-f', 'table', '--exit-code', '4'], { cwd, env: { HOME: scratch.path } })
    expect(table.status).toBe(4)
    expect(() => JSON.parse(table.stdout)).toThrow()
    // The environment beats the file: VIGIL_DATA names a store without advisories, which the
    // scan refuses (ERR_NO_DATA) naming that store; with --allow-no-data nothing is found.
    const env = vigilSync(['scan', `sbom:${sbom}`], { cwd, env: { HOME: scratch.path, VIGIL_DATA: empty } })
    expect(env.status, env.stderr).toBe(2)
    expect(env.stderr).toContain('ERR_NO_DATA')
    expect(env.stderr).toContain(empty)
    const allowed = vigilSync(['scan', `sbom:${sbom}`, '--allow-no-data'], { cwd, env: { HOME: scratch.path, VIGIL_DATA: empty } })
    expect(allowed.status, allowed.stderr).toBe(0)
    expect((JSON.parse(allowed.stdout) as { findings: unknown[] }).findings).toEqual([])

    const named = join(scratch.path, 'named.yaml')
    writeFileSync(named, `scan:\n  exit-code: 6\n  data: ${scan.dataDir}\n`)
    expect(vigilSync(['scan', `sbom:${sbom}`, '--config', named, '-q'], { env: { HOME: scratch.path } }).status).toBe(6)
    expect(vigilSync(['scan', '--config=' + named, `sbom:${sbom}`, '-q'], { env: { HOME: scratch.path } }).status).toBe(6)
    expect(vigilSync(['scan', `sbom:${sbom}`, '-q'], { env: { HOME: scratch.path, VIGIL_CONFIG: named } }).status).toBe(6)

    // `data` reaches a command that lists no options of its own (db); version reads no file at all.
    const other = (await scratchDir('vigil-config-db-')).path
    writeFileSync(join(other, 'vigil.yaml'), `data: ${join(other, 'db-data')}\n`)
    expect(vigilSync(['db', 'status'], { cwd: other, env: { HOME: scratch.path } }).status).toBe(0)
    expect(existsSync(join(other, 'db-data', 'store'))).toBe(true)
    writeFileSync(join(other, 'vigil.yaml'), 'data: [unclosed\n')
    expect(vigilSync(['version'], { cwd: other, env: { HOME: scratch.path } }).stdout).toBe(`vigil ${VERSION}\n`)
    const broken = vigilSync(['query', 'top'], { cwd: other, env: { HOME: scratch.path } })
    expect(broken.status).toBe(2)
    expect(broken.stderr).toContain(`ERR_CONFIG: config file ${join(other, 'vigil.yaml')}`)

    const typo = join(scratch.path, 'typo.yaml')
    writeFileSync(typo, 'scan:\n  sevrity: HIGH\n')
    const bad = vigilSync(['scan', `sbom:${sbom}`, '--config', typo], { env: { HOME: scratch.path } })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain(`error ERR_CONFIG: config file ${typo}: scan.sevrity is not an option of vigil scan`)
    writeFileSync(typo, 'scan:\n  ignore-unfixed: "yes"\n')
    expect(vigilSync(['scan', `sbom:${sbom}`, '--config', typo], { env: { HOME: scratch.path } }).stderr).toContain('scan.ignore-unfixed must be true or false')
    // A value the command refuses names the file it came from.
    writeFileSync(typo, 'scan:\n  fail-on: SEVERE\n')
    const refused = vigilSync(['scan', `sbom:${sbom}`, '--config', typo], { env: { HOME: scratch.path } })
    expect(refused.status).toBe(2)
    expect(refused.stderr).toContain(`(defaults from ${typo}: --fail-on=SEVERE)`)
    const missing = vigilSync(['scan', `sbom:${sbom}`, '--config', join(scratch.path, 'absent.yaml')], { env: { HOME: scratch.path } })
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain('does not exist')
  })
})
