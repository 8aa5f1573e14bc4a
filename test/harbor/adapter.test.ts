/**
 * The lone adapter (`vigil harbor`) against a real nats-server with the daemon's streams but no
 * daemon: what goes into the job, how results move a scan request, and every error status.
 * Results are published with the daemon's own publisher (src/daemon/results.ts).
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { unpack } from 'msgpackr'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { failedResult, publishScanResult } from '../../src/daemon/results.js'
import { ensureTopology, STREAMS } from '../../src/daemon/subjects.js'
import { startHarborAdapter, type RunningAdapter } from '../../src/http/harbor/standalone.js'
import { bindingForRegistry, decryptSecret } from '../../src/secrets.js'
import { HAS_NATS_SERVER, noteNatsMissing, startNats, type NatsServer } from '../helpers/nats.js'
import { HarborClient, MIME } from './kit.js'

noteNatsMissing()
const KEY = Buffer.alloc(32, 3)
const DIGEST = `sha256:${'c3'.repeat(32)}`
const BASIC = `Basic ${Buffer.from('robot$scanner-t:adapter-test-secret').toString('base64')}`
const body = (extra: Record<string, unknown> = {}) => ({ registry: { url: 'http://core:8080', authorization: BASIC }, artifact: { repository: 'library/app', digest: DIGEST, tag: 'v1' }, ...extra })

describe.skipIf(!HAS_NATS_SERVER)('Harbor adapter alone (no daemon)', () => {
  let nats: NatsServer
  let nc: NatsConnection
  let adapter: RunningAdapter
  let harbor: HarborClient
  let log = ''

  beforeAll(async () => {
    nats = await startNats()
    nc = await connect({ servers: nats.url })
    await ensureTopology(jetstream(nc), await jetstreamManager(nc), { ackWaitMs: 30_000, replicaId: 'adapter-test' }, { replicas: 1, explicit: false }, pino({ level: 'silent' }))
    adapter = await startHarborAdapter({ natsUrl: nats.url, host: '127.0.0.1', port: 0, secretKey: KEY, log: pino({ level: 'debug' }, { write: (l: string) => void (log += l) }), refreshAfterSeconds: 7 })
    harbor = new HarborClient(`http://${adapter.address}`)
  }, 30_000)

  afterAll(async () => {
    await adapter?.close()
    await nc?.close()
    await nats?.dispose()
  })

  it('queues a job whose authorization only the daemons key opens, and says 302 + Refresh-After meanwhile', async () => {
    const res = await harbor.scan(body())
    expect(res.status).toBe(202)
    const { id } = (await res.json()) as { id: string }
    const pending = await harbor.report(id)
    expect(pending.status).toBe(302)
    expect(pending.headers.get('refresh-after')).toBe('7')

    const jsm = await jetstreamManager(nc)
    const msg = await jsm.streams.getMessage(STREAMS.jobs, { last_by_subj: 'vigil.jobs.scan' })
    expect(Buffer.from(msg!.data).includes(Buffer.from('adapter-test-secret'))).toBe(false)
    expect(Buffer.from(msg!.data).includes(Buffer.from(BASIC.slice(6)))).toBe(false)
    const job = unpack(Buffer.from(msg!.data)) as { id: string; registry: { url: string; authorization: string }; artifact: Record<string, string> }
    expect(job.id).toBe(id)
    expect(job.registry.url).toBe('http://core:8080')
    expect(job.artifact).toEqual({ repository: 'library/app', digest: DIGEST, tag: 'v1' })
    const made = bindingForRegistry('http://core:8080', 'library/app')
    expect(decryptSecret(job.registry.authorization, KEY, made)).toBe(BASIC)
    expect(() => decryptSecret(job.registry.authorization, Buffer.alloc(32, 4), made)).toThrow(/does not decrypt/)
    // Bound to the registry and repository: lifted into a job for another, it does not open.
    expect(() => decryptSecret(job.registry.authorization, KEY, bindingForRegistry('http://evil:8080', 'library/app'))).toThrow(/does not decrypt/)
    expect(log).not.toContain('adapter-test-secret')
  })

  it('turns a failed result into 500 with the error, and a done one into 302 while no daemon can render it', async () => {
    const failed = (await (await harbor.scan(body())).json()) as { id: string }
    await publishScanResult(jetstream(nc), 1024 * 1024, failedResult(failed.id, { code: 'ERR_REGISTRY_AUTH', message: 'core:8080 refused the basic credentials', retryable: false }, 1), 'msgpack')
    const deadline = Date.now() + 10_000
    let res = await harbor.report(failed.id)
    while (res.status === 302 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
      res = await harbor.report(failed.id)
    }
    expect(res.status).toBe(500)
    expect(res.headers.get('content-type')).toBe('application/vnd.scanner.adapter.error+json; version=1.0')
    expect(await res.json()).toEqual({ error: { message: 'ERR_REGISTRY_AUTH: core:8080 refused the basic credentials' } })

    // Done, but no daemon answers vigil.query.harbor: Harbor is told to come back, not failed.
    const done = (await (await harbor.scan(body())).json()) as { id: string }
    await publishScanResult(jetstream(nc), 1024 * 1024, { v: 1, id: done.id, status: 'done', digest: DIGEST }, 'msgpack')
    const { ScanBook } = await import('../../src/http/harbor/scans.js')
    const book = await ScanBook.open(nc)
    while ((await book.get(done.id))?.status !== 'done' && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 50))
    expect((await book.get(done.id))?.status).toBe('done')
    const later = await harbor.report(done.id)
    expect(later.status).toBe(302)
    expect(later.headers.get('refresh-after')).toBe('7')
  }, 30_000)

  it('parses every request MIME Harbor sends and rejects bad input with the spec statuses', async () => {
    for (const type of [MIME.REQUEST, 'application/vnd.scanner.adapter.scan.request+json; version=1.1', 'application/json', 'text/plain']) {
      expect([type, (await harbor.scan(body(), type)).status]).toEqual([type, 202])
    }
    const bare = await fetch(`${harbor.base}/api/v1/scan`, { method: 'POST', body: JSON.stringify(body()) })
    expect(bare.status).toBe(202)
    const cases: [string, number][] = [
      ['{not json', 400],
      ['', 400],
      [JSON.stringify({ registry: 'x', artifact: {} }), 400],
      [JSON.stringify({ registry: { url: 'http://core' }, artifact: { repository: 'library/app' } }), 422],
      [JSON.stringify(body({ enabled_capabilities: [{ type: 'sbom', parameters: { sbom_media_types: ['application/xml'] } }] })), 422],
      [JSON.stringify(body({ enabled_capabilities: [{ type: 'vulnerability', produces_mime_types: [MIME.VULN, 'application/vnd.scanner.adapter.vuln.report.raw'] }] })), 501],
    ]
    for (const [text, status] of cases) {
      const res = await harbor.scan(text)
      expect([text, res.status]).toEqual([text, status])
      expect(res.headers.get('content-type')).toBe('application/vnd.scanner.adapter.error+json; version=1.0')
      expect(typeof ((await res.json()) as { error: { message: string } }).error.message).toBe('string')
    }
    expect((await harbor.report('not-an-id')).status).toBe(404)
    expect((await harbor.report('3fa85f64-5717-4562-b3fc-2c963f66afa6')).status).toBe(404)
  })

  it('serves metadata without a database date when no daemon answers', async () => {
    const res = await harbor.metadata()
    expect(res.status).toBe(200)
    const meta = (await res.json()) as { properties: Record<string, string> }
    expect(meta.properties['harbor.scanner-adapter/vulnerability-database-updated-at']).toBeUndefined()
    expect(meta.properties['harbor.scanner-adapter/registry-authorization-type']).toBe('Basic')
  })

  // Last: it stops the broker. Harbor gives each call 5 s in all and fails a scan on any report
  // status but 302 and 200, so an outage must keep polls at 302 and answer everything promptly.
  it('with the broker down and no outbox (no data dir), answers within Harbor\'s 5 s: polls stay 302, a new scan is a prompt 500 saying why', async () => {
    const { id } = (await (await harbor.scan(body())).json()) as { id: string }
    expect((await harbor.report(id)).status).toBe(302)
    await nats.kill()
    const timed = async (call: () => Promise<Response>) => {
      const started = performance.now()
      const res = await call()
      await res.arrayBuffer()
      return { res, ms: performance.now() - started }
    }
    const HARBOR_BUDGET_MS = 5_000
    // Right after the kill (the client may not have noticed yet) and again later.
    for (const _ of [1, 2]) {
      const poll = await timed(() => harbor.report(id))
      expect(poll.res.status).toBe(302)
      expect(poll.res.headers.get('refresh-after')).toBe('7')
      expect(poll.ms).toBeLessThan(HARBOR_BUDGET_MS)
      const scan = await timed(() => harbor.scan(body()))
      expect(scan.res.status).toBe(500)
      expect(scan.ms).toBeLessThan(HARBOR_BUDGET_MS)
      const meta = await timed(() => harbor.metadata())
      expect(meta.res.status).toBe(200)
      expect(meta.ms).toBeLessThan(HARBOR_BUDGET_MS)
    }
    const refused = (await (await harbor.scan(body())).json()) as { error: { message: string } }
    expect(refused.error.message).toMatch(/^ERR_BROKER: .*broker is unreachable/)

    // Back: the scan Harbor kept polling is still pending, not failed.
    await nats.restart()
    const deadline = Date.now() + 20_000
    let status = 0
    while (Date.now() < deadline && (status = (await harbor.scan(body())).status) !== 202) await new Promise((r) => setTimeout(r, 200))
    expect(status).toBe(202)
    expect((await harbor.report(id)).status).toBe(302)
    for (;;) {
      const sent = await publishScanResult(jetstream(nc), 1024 * 1024, failedResult(id, { code: 'ERR_REGISTRY_AUTH', message: 'refused', retryable: false }, 1), 'msgpack').then(() => true, () => false)
      if (sent || Date.now() > deadline) break
    }
    while (Date.now() < deadline && (status = (await harbor.report(id)).status) === 302) await new Promise((r) => setTimeout(r, 200))
    expect(status).toBe(500)
  }, 60_000)
})

describe('vigil harbor (command line)', () => {
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    const { main } = await import('../../src/cli/main.js')
    let out = ''
    let err = ''
    const io = { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((err += s), true) }, stdin: process.stdin, env } as never
    return { code: await main(args, io), out: () => out, err: () => err }
  }

  it('prints its usage and refuses to start without the daemons key or with bad flags', async () => {
    const help = await cli(['harbor', '--help'])
    expect(help.code).toBe(0)
    expect(help.out()).toContain('--api-token')
    const noKey = await cli(['harbor', '--data', '/nonexistent/vigil-data'])
    expect(noKey.code).toBe(2)
    expect(noKey.err()).toContain('VIGIL_SECRET_KEY')
    const refresh = await cli(['harbor', '--refresh-after', '300'], { VIGIL_SECRET_KEY: KEY.toString('base64') })
    expect(refresh.code).toBe(2)
    expect(refresh.err()).toContain('1-127')
    const off = await cli(['harbor', '--http', 'off'], { VIGIL_SECRET_KEY: KEY.toString('base64') })
    expect(off.code).toBe(2)
  })
})
