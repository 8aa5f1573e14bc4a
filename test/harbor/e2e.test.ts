/**
 * Vigil acting as Harbor's scanner, end to end with real servers on loopback: nats-server -js,
 * `vigil serve` (child process, Harbor plugin included), docker-registry with htpasswd and with
 * token auth (+ a token issuer), corpus images pushed with skopeo, and counting proxies in front
 * of the registries. Harbor's side is played by HarborClient with the headers Harbor sends.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { connect, headers, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHarborAdapter, type RunningAdapter } from '../../src/http/harbor/standalone.js'
import { HAS_NATS_SERVER, noteNatsMissing, startNats, type NatsServer } from '../helpers/nats.js'
import {
  HAS_REGISTRY_TOOLS, noteRegistryToolsMissing, pushImage, startCountingProxy, startRegistry, startTokenIssuer,
  type CountingProxy, type RegistryServer, type TokenIssuer,
} from '../helpers/registry.js'
import { HAS_SHARED, noteSharedMissing, ROOT, sharedPath } from '../helpers/shared.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { cycloneDxValidator, spdxValidator } from '../sbom/schemas.js'
import { assertHarborTypes, assertValid, CORPUS, corpusOci, HarborClient, HAS_CORPUS, MIME, specValidators, startServe, TEST_KEY_B64, type DaemonChild } from './kit.js'
import { filesContaining, inspectManifest, type ManifestInfo } from './registry-kit.js'

const run = promisify(execFile)
const READY = HAS_NATS_SERVER && HAS_REGISTRY_TOOLS && HAS_SHARED && HAS_CORPUS
if (!HAS_CORPUS) console.warn('[skip] harbor e2e: corpus images missing in ~/.cache/vigil-corpus (../shared/tools/corpus/build.sh)')
noteNatsMissing()
noteRegistryToolsMissing()
noteSharedMissing('harbor e2e')

// Harbor's per-task robot account (reference §6.2): its secret must never appear in clear text.
const ROBOT = 'robot$scanner-vigil-4f1c'
const SECRET = `s3cr3t-${process.pid}-Harbor-Robot-Password`
const CREDS = `${ROBOT}:${SECRET}`
const BASIC = `Basic ${Buffer.from(CREDS).toString('base64')}`

// A real zlib CVE that Debian 12's tracker lists as affecting bookworm's zlib (no fix in bookworm),
// written as the OSV record a feed delta would carry: it touches one package of the images.
const ZLIB_CVE = 'CVE-2023-45853'
const zlibRecord = {
  schema_version: '1.6.0',
  id: `DEBIAN-${ZLIB_CVE}`,
  aliases: [ZLIB_CVE],
  modified: '2024-01-12T00:00:00Z',
  published: '2023-10-14T02:15:09Z',
  summary: 'MiniZip in zlib through 1.3 has an integer overflow and resultant heap-based buffer overflow in zipOpenNewFileInZip4_64',
  severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
  affected: [{ package: { ecosystem: 'Debian:12', name: 'zlib' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }] }],
  references: [{ type: 'ADVISORY', url: `https://security-tracker.debian.org/tracker/${ZLIB_CVE}` }],
}

type Report = { generated_at: string; artifact: Record<string, unknown>; scanner: Record<string, string>; severity?: string; vulnerabilities: Record<string, unknown>[] }
const withoutTime = (r: Report) => ({ ...r, generated_at: '' })

describe.skipIf(!READY)('Harbor adapter end to end', () => {
  let nats: NatsServer
  let dataDir: string
  let daemon: DaemonChild
  let issuer: TokenIssuer
  let basicRegistry: RegistryServer
  let tokenRegistry: RegistryServer
  let basicProxy: CountingProxy
  let tokenProxy: CountingProxy
  let harbor: HarborClient
  let nc: NatsConnection
  let distroless: ManifestInfo
  let multiarch: ManifestInfo
  let minbase: ManifestInfo
  // The describe body runs even when skipped; the schemas are in ../shared.
  const spec = READY ? specValidators('1.2') : (undefined as never)
  const reports = new Map<string, Report>()
  let bearerToken = ''
  let adapterLog = ''

  beforeAll(async () => {
    ensureBuilt()
    nats = await startNats()
    dataDir = await mkdtemp(join(tmpdir(), 'vigil-harbor-'))
    // A real feed import first, so the metadata has a database date (Debian 12 DSA, touches no test image).
    await run(process.execPath, [join(ROOT, 'bin', 'vigil.js'), 'db', 'import', sharedPath('advisories', 'osv', 'misc', 'Debian', 'DSA-5474-1__DependencyTrack_dependency-track.json'), '--data', dataDir])
    issuer = await startTokenIssuer({ users: { [ROBOT]: SECRET } })
    basicRegistry = await startRegistry({ kind: 'htpasswd', users: { [ROBOT]: SECRET } })
    tokenRegistry = await startRegistry({ kind: 'token', issuer })
    await pushImage(`oci:${corpusOci('distroless-style')}`, basicRegistry, 'library/distroless:v1', { creds: CREDS })
    await pushImage(`oci:${corpusOci('debian-minbase')}`, tokenRegistry, 'library/minbase:12', { creds: CREDS })
    await pushImage(`oci:${corpusOci('distroless-multiarch')}`, tokenRegistry, 'library/multi:v1', { creds: CREDS, all: true })
    distroless = await inspectManifest(basicRegistry.host, 'library/distroless:v1', CREDS)
    minbase = await inspectManifest(tokenRegistry.host, 'library/minbase:12', CREDS)
    multiarch = await inspectManifest(tokenRegistry.host, 'library/multi:v1', CREDS)
    basicProxy = await startCountingProxy(basicRegistry)
    tokenProxy = await startCountingProxy(tokenRegistry)
    daemon = await startServe(nats.url, dataDir)
    harbor = new HarborClient(daemon.url)
    nc = await connect({ servers: nats.url })
  }, 180_000)

  afterAll(async () => {
    await nc?.close()
    await daemon?.stop()
    await basicProxy?.stop()
    await tokenProxy?.stop()
    await basicRegistry?.stop()
    await tokenRegistry?.stop()
    await issuer?.stop()
    await nats?.dispose()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  async function scanToReport(registryUrl: string, artifact: Record<string, unknown>, authorization: string): Promise<{ id: string; report: Report; polls: number }> {
    const res = await harbor.scan({ registry: { url: registryUrl, authorization, insecure: false }, artifact, enabled_capabilities: [{ type: 'vulnerability', produces_mime_types: [MIME.VULN], parameters: null }] })
    expect(res.status).toBe(202)
    expect(res.headers.get('content-type')).toBe(MIME.RESPONSE)
    const body = await res.json()
    assertValid(spec.scanResponse, body, 'scan response')
    const id = (body as { id: string }).id
    const { res: rep, polls } = await harbor.poll(id)
    const text = await rep.text()
    expect(rep.status, text).toBe(200)
    expect(rep.headers.get('content-type')).toBe(MIME.VULN)
    const report = JSON.parse(text) as Report
    assertValid(spec.vulnerabilityReport, report, 'vulnerability report')
    assertHarborTypes(report)
    return { id, report, polls }
  }

  it('serves metadata Harbor accepts, with the database date from the store', async () => {
    const res = await harbor.metadata()
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(MIME.METADATA)
    const meta = (await res.json()) as { scanner: Record<string, string>; capabilities: { type: string; consumes_mime_types: string[]; produces_mime_types: string[]; additional_attributes?: { sbom_media_types: string[] } }[]; properties: Record<string, string> }
    assertValid(spec.metadata, meta, 'metadata')
    // Harbor's own Validate (reference §3.1).
    expect(meta.scanner.name && meta.scanner.vendor && meta.scanner.version).toBeTruthy()
    for (const c of meta.capabilities) expect(c.consumes_mime_types).toContain('application/vnd.docker.distribution.manifest.v2+json')
    expect(meta.capabilities.find((c) => c.type === 'vulnerability')?.produces_mime_types).toEqual([MIME.VULN])
    const sbom = meta.capabilities.find((c) => c.type === 'sbom')
    expect(sbom?.produces_mime_types).toEqual([MIME.SBOM])
    expect(sbom?.additional_attributes?.sbom_media_types).toEqual(['application/spdx+json', 'application/vnd.cyclonedx+json'])
    expect(meta.properties['harbor.scanner-adapter/scanner-type']).toBe('os-package-vulnerability')
    const updated = meta.properties['harbor.scanner-adapter/vulnerability-database-updated-at']
    expect(updated && Number.isFinite(Date.parse(updated))).toBe(true)
  })

  it('scans an image from an htpasswd registry: Basic answers the Basic challenge, never before it', async () => {
    const artifact = { repository: 'library/distroless', digest: distroless.digest, tag: 'v1', mime_type: distroless.mediaType, size: 1234 }
    const { report } = await scanToReport(`http://${basicProxy.host}`, artifact, BASIC)
    expect(report.artifact).toEqual({ repository: 'library/distroless', digest: distroless.digest, tag: 'v1', mime_type: distroless.mediaType })
    expect(report.scanner.name).toBe('vigil')
    reports.set('distroless', report)
    const log = basicProxy.log
    expect(log.length).toBeGreaterThan(0)
    expect(log[0]).toMatchObject({ authorization: 'none', status: 401 })
    // Every request that carried Basic came after a 401 on the same connection's flow.
    const firstBasic = log.findIndex((r) => r.authorization === 'basic')
    expect(firstBasic).toBeGreaterThan(0)
    expect(log.slice(0, firstBasic).some((r) => r.status === 401)).toBe(true)
    expect(log.filter((r) => r.path.includes('/blobs/')).length).toBeGreaterThan(0)
  }, 120_000)

  it('answers the SBOM report per sbom_media_type and refuses what it does not produce', async () => {
    const res = await harbor.scan({ registry: { url: `http://${basicProxy.host}`, authorization: BASIC }, artifact: { repository: 'library/distroless', digest: distroless.digest }, enabled_capabilities: [{ type: 'sbom', produces_mime_types: [MIME.SBOM], parameters: { sbom_media_types: ['application/spdx+json'] } }] })
    expect(res.status).toBe(202)
    const { id } = (await res.json()) as { id: string }
    // The embedded documents are checked against their own official schemas too.
    const spdx = spdxValidator()
    const cdx = cycloneDxValidator('1.6')
    for (const [mediaType, check] of [
      ['application/spdx+json', (s: Record<string, unknown>) => {
        expect(s.spdxVersion).toBe('SPDX-2.3')
        assertValid(spdx, s, 'SPDX document')
      }],
      ['application/vnd.cyclonedx+json', (s: Record<string, unknown>) => {
        expect(s.bomFormat).toBe('CycloneDX')
        assertValid(cdx, s, 'CycloneDX document')
      }],
    ] as const) {
      const { res: rep } = await harbor.poll(id, MIME.SBOM, `?sbom_media_type=${encodeURIComponent(mediaType)}`)
      expect(rep.status).toBe(200)
      expect(rep.headers.get('content-type')).toBe(MIME.SBOM)
      const body = (await rep.json()) as { media_type: string; sbom: Record<string, unknown> }
      assertValid(spec.sbomReport, body, 'SBOM report')
      expect(body.media_type).toBe(mediaType)
      check(body.sbom)
      expect(JSON.stringify(body.sbom)).toContain('zlib1g')
    }
    expect((await harbor.report(id, MIME.SBOM)).status).toBe(400)
    expect((await harbor.report(id, MIME.SBOM, '?sbom_media_type=text%2Fplain')).status).toBe(400)
    const native = await harbor.report(id, 'application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0')
    expect(native.status).toBe(501)
    assertValid(spec.error, await native.json(), 'error body')
    expect((await harbor.report(id, 'text/html')).status).toBe(406)
    // Same report, any spelling of the MIME: case, spaces and parameter order do not matter.
    expect((await harbor.report(id, 'Application/Vnd.Security.Vulnerability.Report;version=1.1')).status).toBe(200)
    expect((await harbor.report('3fa85f64-5717-4562-b3fc-2c963f66afa6')).status).toBe(404)
  }, 60_000)

  it('pulls with a Bearer token from Harbor as given, and does the token exchange for Basic', async () => {
    const tokenRes = await fetch(`${issuer.realm}?service=${issuer.service}&scope=repository:library/minbase:pull`, { headers: { authorization: BASIC } })
    const { token } = (await tokenRes.json()) as { token: string }
    bearerToken = token
    const before = issuer.log.length
    const { report } = await scanToReport(`http://${tokenProxy.host}`, { repository: 'library/minbase', digest: minbase.digest, tag: '12', mime_type: minbase.mediaType }, `Bearer ${token}`)
    expect(report.artifact.digest).toBe(minbase.digest)
    // Bearer as given: no token request was made by the daemon.
    expect(issuer.log.length).toBe(before)
    expect(tokenProxy.log.some((r) => r.authorization === 'bearer')).toBe(true)
    expect(tokenProxy.log.some((r) => r.authorization === 'basic')).toBe(false)
  }, 120_000)

  it('scans each child of a multi-arch index by digest, as Harbor fans out', async () => {
    expect(multiarch.children.length).toBe(2)
    let pulledChildren = 0
    for (const child of multiarch.children) {
      const issued = issuer.log.length
      const { report } = await scanToReport(`http://${tokenProxy.host}`, { repository: 'library/multi', digest: child.digest, tag: '', mime_type: child.mediaType }, BASIC)
      expect(report.artifact).toEqual({ repository: 'library/multi', digest: child.digest, mime_type: child.mediaType })
      // Basic on a Bearer registry: the credentials went to the token issuer only. The amd64
      // child is built from the same recipe as distroless-style, so it can be indexed already.
      const pulled = issuer.log.slice(issued).some((t) => t.user === ROBOT && t.granted)
      expect(pulled).toBe(child.digest !== distroless.digest)
      if (pulled) pulledChildren++
    }
    expect(pulledChildren).toBeGreaterThan(0)
    expect(tokenProxy.log.some((r) => r.authorization === 'basic')).toBe(false)
  }, 180_000)

  it('rescans an indexed digest from the index (zero registry requests) and reflects a feed delta', async () => {
    const first = reports.get('distroless')!
    expect(first.vulnerabilities.some((v) => String(v.id).includes(ZLIB_CVE))).toBe(false)
    const requestsBefore = basicProxy.log.length
    const artifact = { repository: 'library/distroless', digest: distroless.digest, tag: 'v1', mime_type: distroless.mediaType }
    const again = await scanToReport(`http://${basicProxy.host}`, artifact, BASIC)
    expect(again.polls).toBe(1)
    expect(withoutTime(again.report)).toEqual(withoutTime(first))
    expect(basicProxy.log.length).toBe(requestsBefore)

    // A feed delta touching zlib (one package of the image), then the same rescan again.
    const hex = distroless.digest.slice('sha256:'.length)
    const changed = new Promise<void>((resolve) => {
      const sub = nc.subscribe(`vigil.results.findings.${hex}`, { max: 1, callback: () => resolve() })
      void sub
    })
    const h = headers()
    h.set('Content-Type', 'application/json')
    const publishedAt = new Date(Date.now() - 1000).toISOString()
    nc.publish('vigil.feed.delta', JSON.stringify({ records: [zlibRecord], epss: { [ZLIB_CVE]: { epss: 0.0125, percentile: 0.86 } } }), { headers: h })
    await changed
    // The metadata's database date moves with the delta.
    const meta = (await (await harbor.metadata()).json()) as { properties: Record<string, string> }
    expect(meta.properties['harbor.scanner-adapter/vulnerability-database-updated-at']! >= publishedAt).toBe(true)
    const after = await scanToReport(`http://${basicProxy.host}`, artifact, BASIC)
    expect(basicProxy.log.length).toBe(requestsBefore)
    const zlib = after.report.vulnerabilities.filter((v) => v.package === 'zlib1g')
    expect(zlib.length).toBe(1)
    const item = zlib[0]!
    expect([item.id, ...((item.vendor_attributes as { aliases?: string[] }).aliases ?? [])]).toContain(ZLIB_CVE)
    expect(item.severity).toBe('Critical')
    expect(item.preferred_cvss).toMatchObject({ score_v3: 9.8, vector_v3: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' })
    expect(item.status).toBe('affected')
    const va = item.vendor_attributes as { risk?: unknown; kev?: unknown; epss?: unknown }
    expect(typeof va.risk).toBe('number')
    expect(va.kev).toBe(false)
    expect(va.epss).toBe(0.0125)
    expect(after.report.severity).toBe('Critical')
    // Everything else is as before: the delta touched one package.
    const rest = after.report.vulnerabilities.filter((v) => v.package !== 'zlib1g')
    expect(rest).toEqual(first.vulnerabilities)
    reports.set('distroless-after', after.report)
  }, 120_000)

  it('runs alone over NATS: API token, reports from a daemon, state that survives a restart', async () => {
    const start = () => startHarborAdapter({ natsUrl: nats.url, host: '127.0.0.1', port: 0, secretKey: Buffer.from(TEST_KEY_B64, 'base64'), apiToken: 'harbor-api-token', log: pino({ level: 'debug' }, { write: (l: string) => void (adapterLog += l) }) })
    let adapter: RunningAdapter = await start()
    try {
      const anonymous = new HarborClient(`http://${adapter.address}`)
      const res401 = await anonymous.metadata()
      expect(res401.status).toBe(401)
      assertValid(spec.error, await res401.json(), 'error body')
      const viaKey = await fetch(`http://${adapter.address}/api/v1/metadata`, { headers: { 'x-scanneradapter-api-key': 'harbor-api-token' } })
      expect(viaKey.status).toBe(200)
      const alone = new HarborClient(`http://${adapter.address}`, 'harbor-api-token')
      const meta = (await (await alone.metadata()).json()) as { properties: Record<string, string> }
      expect(meta.properties['harbor.scanner-adapter/vulnerability-database-updated-at']).toBeTruthy()

      // A rescan through the lone adapter: the daemon answers over request-reply, the registry sees nothing.
      const requestsBefore = basicProxy.log.length
      const artifact = { repository: 'library/distroless', digest: distroless.digest, tag: 'v1', mime_type: distroless.mediaType }
      const accepted = await alone.scan({ registry: { url: `http://${basicProxy.host}`, authorization: BASIC }, artifact }, 'application/json')
      expect(accepted.status).toBe(202)
      const { id } = (await accepted.json()) as { id: string }
      const { res, polls } = await alone.poll(id)
      expect([res.status, polls]).toEqual([200, 1])
      const report = (await res.json()) as Report
      expect(withoutTime(report)).toEqual(withoutTime(reports.get('distroless-after')!))
      const sbom = await alone.report(id, MIME.SBOM, '?sbom_media_type=application%2Fspdx%2Bjson')
      expect(sbom.status).toBe(200)
      const sbomBody = (await sbom.json()) as { media_type: string; sbom: { spdxVersion?: string } }
      assertValid(spec.sbomReport, sbomBody, 'SBOM report')
      expect(sbomBody.sbom.spdxVersion).toBe('SPDX-2.3')
      expect(basicProxy.log.length).toBe(requestsBefore)

      // A digest never seen: a job for the daemon, its result found through the shared KV state.
      await pushImage(`docker-archive:${join(CORPUS, 'distroless-style.docker.tar')}`, basicRegistry, 'library/distroless:docker', { creds: CREDS })
      const docker = await inspectManifest(basicRegistry.host, 'library/distroless:docker', CREDS)
      expect(docker.digest).not.toBe(distroless.digest)
      const job = await alone.scan({ registry: { url: `http://${basicProxy.host}`, authorization: BASIC }, artifact: { repository: 'library/distroless', digest: docker.digest, mime_type: docker.mediaType } })
      const jobId = ((await job.json()) as { id: string }).id
      const done = await alone.poll(jobId)
      expect(done.res.status).toBe(200)
      expect(done.polls).toBeGreaterThan(1)
      const fromJob = (await done.res.json()) as Report
      assertValid(spec.vulnerabilityReport, fromJob, 'vulnerability report')
      expect(fromJob.vulnerabilities.map((v) => v.id)).toEqual(report.vulnerabilities.map((v) => v.id))

      // Restart: the ids Harbor is polling are still known (NATS KV, not memory).
      await adapter.close()
      adapter = await start()
      const again = new HarborClient(`http://${adapter.address}`, 'harbor-api-token')
      for (const known of [id, jobId]) expect((await again.report(known)).status).toBe(200)
      // And the daemon's own adapter sees the same state: replicas share it.
      expect((await harbor.report(jobId)).status).toBe(200)
    } finally {
      await adapter.close()
    }
  }, 120_000)

  it('keeps the registry secret out of every log line, LMDB file and stream message', async () => {
    expect(bearerToken.length).toBeGreaterThan(20)
    const needles = [SECRET, Buffer.from(CREDS).toString('base64'), BASIC, bearerToken]
    expect(daemon.log()).toContain('harbor scan request accepted')
    for (const n of needles) expect(daemon.log().includes(n)).toBe(false)
    expect(adapterLog).toContain('harbor scan request accepted')
    for (const n of needles) expect(adapterLog.includes(n)).toBe(false)
    expect(filesContaining(dataDir, needles)).toEqual([])
    expect(filesContaining(nats.storeDir, needles)).toEqual([])
    // The searches do read those files: the scan state names the repository in the KV bucket.
    expect(filesContaining(nats.storeDir, ['library/distroless']).length).toBeGreaterThan(0)
    expect(filesContaining(dataDir, ['zlib1g']).length).toBeGreaterThan(0)
  })
})
