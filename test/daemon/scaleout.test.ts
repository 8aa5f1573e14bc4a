import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../layers/ensure-built.js'
import { HAS_NATS_SERVER, noteNatsMissing, startNats, type NatsServer } from '../helpers/nats.js'
import { getJson, HAS_SMALL_IMAGE, JobClient, noteCorpusMissing, osvAdvisory, SMALL_ARCHIVE, SMALL_TARGET, startDaemonProcess, teardown, type DaemonProcess } from './harness.js'

noteNatsMissing()
noteCorpusMissing()

// Feed deltas are messages: OSV records shaped as Debian's OSV export writes them, naming the
// source packages (glibc, zlib) of what the small corpus image really contains.
const osv = (id: string, source: string, fixed: string) => osvAdvisory(id, 'Debian:12', source, fixed)
const GLIBC = 'CVE-2099-1001'
const ZLIB = 'CVE-2099-1002'
const TOKEN = 'test-api-token'

/**
 * Scale-out: two replicas share one work queue; a third, started empty, rebuilds its index from
 * VIGIL_INVENTORY (and its advisories from VIGIL_FEED) and answers queries as the others do.
 */
describe.skipIf(!HAS_NATS_SERVER || !HAS_SMALL_IMAGE)('daemon replicas', () => {
  let nats: NatsServer
  let client: JobClient
  const daemons: DaemonProcess[] = []

  beforeAll(async () => {
    ensureBuilt()
    nats = await startNats()
    client = await JobClient.open(nats.url)
  }, 60_000)

  afterAll(() => teardown({ client, daemons, nats }))

  it('shares jobs between replicas, rebuilds a fresh one from the streams, and keeps every replica current', async () => {
    const start = (id: string) => startDaemonProcess({ natsUrl: nats.url, args: ['--replica-id', id, '--concurrency', '2'], env: { VIGIL_API_TOKEN: TOKEN } })
    const [a, b] = await Promise.all([start('replica-a'), start('replica-b')])
    daemons.push(a!, b!)
    await client.publish('vigil.feed.delta', { records: [osv(GLIBC, 'glibc', '2.36-9+deb12u99'), osv(ZLIB, 'zlib', '1:1.2.13.dfsg-9')] })
    for (const d of [a!, b!]) await d.waitFor((l) => l.msg === 'feed delta applied')

    const ids = Array.from({ length: 24 }, (_, i) => `s-${i}`)
    for (const [i, id] of ids.entries()) await client.publish('vigil.jobs.scan', { id, target: i % 2 ? SMALL_ARCHIVE : SMALL_TARGET })
    await client.waitForResults(() => ids.every((id) => client.scanResults().some((r) => r.jobId === id)), 40_000)
    const results = client.scanResults().filter((r) => r.jobId?.startsWith('s-'))
    expect(results).toHaveLength(ids.length)
    expect(results.every((r) => r.body.status === 'done')).toBe(true)
    expect(new Set(results.map((r) => r.body.replica))).toEqual(new Set(['replica-a', 'replica-b']))
    const digests = [...new Set(results.map((r) => r.digest!))].sort()
    expect(digests).toHaveLength(2)
    for (const r of results) expect((r.body.findings as { id: string }[]).map((f) => f.id).sort()).toEqual([GLIBC, ZLIB])

    const c = await start('replica-c')
    daemons.push(c)
    const caughtUp = await c.waitFor((l) => String(l.msg).startsWith('index caught up'))
    expect(caughtUp.inventories).toBe(2)
    expect(caughtUp.indexed).toBe(2)

    const ask = async (d: DaemonProcess, path: string) => {
      const res = await getJson(`${d.httpUrl}${path}`, TOKEN)
      expect(res.status, path).toBe(200)
      return res.body
    }
    for (const path of [`/api/v1/query/vuln/${GLIBC}`, '/api/v1/query/package?purl=pkg:deb/debian/zlib1g', '/api/v1/query/package?purl=pkg:deb/debian/libc6&range=%3C2.36-9%2Bdeb12u99', '/api/v1/query/top?limit=5']) {
      const fromA = await ask(a!, path)
      expect(await ask(b!, path)).toEqual(fromA)
      expect(await ask(c, path)).toEqual(fromA)
    }
    const vuln = (await ask(c, `/api/v1/query/vuln/${GLIBC}`)) as { count: number; images: { digest: string; name: string }[] }
    expect(vuln.images.map((i) => i.digest).sort()).toEqual(digests)
    expect(vuln.images.every((i) => i.name === 'libc6')).toBe(true)

    // The API token guards everything but the probes.
    expect((await getJson(`${c.httpUrl}/api/v1/query/top`)).status).toBe(401)
    expect((await getJson(`${c.httpUrl}/metrics`)).status).toBe(401)
    expect((await getJson(`${c.httpUrl}/readyz`)).status).toBe(200)
    const metrics = String((await getJson(`${a!.httpUrl}/metrics`, TOKEN)).body)
    expect(metrics).toMatch(/vigil_jobs_total\{kind="scan",outcome="done"\} [1-9]/)
    expect(metrics).toMatch(/vigil_index_images 2/)
    expect(metrics).toMatch(/vigil_event_loop_lag_seconds\{quantile="0.99"\} [0-9.e-]+/)

    // A withdrawal reaches every replica; each announces it, the stream keeps one per image.
    await client.publish('vigil.feed.delta', { withdrawn: [GLIBC] })
    for (const d of [a!, b!, c]) await d.waitFor((l) => l.msg === 'feed delta applied' && l.withdrawn === 1)
    for (const d of [a!, b!, c]) expect(((await ask(d, `/api/v1/query/vuln/${GLIBC}`)) as { count: number }).count).toBe(0)
    const live = client.results.filter((r) => r.subject.startsWith('vigil.results.findings.'))
    expect(new Set(live.map((r) => r.digest))).toEqual(new Set(digests))
    for (const e of live) expect(e.body).toMatchObject({ causes: [GLIBC], added: [], changed: [] })
    const stored = (await client.streamMessages('VIGIL_RESULTS', 'vigil.results.findings.>'))
    expect(stored.map((r) => r.subject).sort()).toEqual(digests.map((d) => `vigil.results.findings.${d.slice(7)}`))

    // Re-assess jobs re-match stored inventories; nothing changed since the last delta, so no events.
    const unknown = `sha256:${'0'.repeat(64)}`
    await client.publish('vigil.jobs.reassess', { id: 'ra-all', all: true }, 'json')
    await client.publish('vigil.jobs.reassess', { id: 'ra-some', digests: [digests[0]!, unknown] })
    await client.waitForResults((rs) => ['ra-all', 'ra-some'].every((id) => rs.some((r) => r.jobId === id)))
    const reassessed = Object.fromEntries(client.results.filter((r) => r.subject === 'vigil.results.reassess').map((r) => [r.jobId, r.body]))
    expect(reassessed['ra-all']).toMatchObject({ status: 'done', images: 2, changed: 0, missing: [] })
    expect(reassessed['ra-some']).toMatchObject({ status: 'done', images: 1, changed: 0, missing: [unknown] })

    for (const d of [a!, b!, c]) expect(await d.stop()).toBe(0)
  }, 60_000)
})
