/**
 * Harbor's calls while nats-server is down (killed by PID): a scan request is still answered 202,
 * kept in the adapter's local outbox, polled as 302, and sent once the broker is back, also by
 * an adapter restarted in between. Against the Debian nats-server: first `vigil harbor` with no
 * daemon (what reaches VIGIL_JOBS), then `vigil serve` scanning from a real registry.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { unpack } from 'msgpackr'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { failedResult, publishScanResult } from '../../src/daemon/results.js'
import { ensureTopology, STREAMS } from '../../src/daemon/subjects.js'
import { ScanOutbox } from '../../src/http/harbor/outbox.js'
import { RESULTS_CONSUMER, ScanBook } from '../../src/http/harbor/scans.js'
import { startHarborAdapter, type RunningAdapter } from '../../src/http/harbor/standalone.js'
import { bindingForRegistry, decryptSecret } from '../../src/secrets.js'
import { HAS_NATS_SERVER, noteNatsMissing, startNats, type NatsServer } from '../helpers/nats.js'
import { HAS_REGISTRY_TOOLS, noteRegistryToolsMissing, pushImage, startRegistry, type RegistryServer } from '../helpers/registry.js'
import { HAS_SHARED, noteSharedMissing, ROOT, sharedPath } from '../helpers/shared.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { corpusOci, HarborClient, HAS_CORPUS, MIME, startServe, type DaemonChild } from './kit.js'
import { filesContaining, inspectManifest, type ManifestInfo } from './registry-kit.js'

const run = promisify(execFile)

noteNatsMissing()
const KEY = Buffer.alloc(32, 5)
const SECRET = 'outbox-test-robot-password'
const BASIC = `Basic ${Buffer.from(`robot$scanner-o:${SECRET}`).toString('base64')}`
const digest = (n: number) => `sha256:${n.toString(16).padStart(2, '0').repeat(32)}`
const body = (n: number) => ({ registry: { url: 'http://core:8080', authorization: BASIC }, artifact: { repository: 'library/app', digest: digest(n), tag: 'v1' } })
// Harbor gives each call 5 s in all (reference/harbor-api.md §1).
const HARBOR_BUDGET_MS = 5_000

describe.skipIf(!HAS_NATS_SERVER)('Harbor adapter with the broker down: the outbox', () => {
  let nats: NatsServer
  let dataDir: string
  let adapter: RunningAdapter | undefined
  let log = ''
  let brokerDown = false
  const killBroker = async () => {
    brokerDown = true
    await nats.kill()
  }
  const restartBroker = async () => {
    await nats.restart()
    brokerDown = false
  }

  const start = async () => {
    adapter = await startHarborAdapter({ natsUrl: nats.url, host: '127.0.0.1', port: 0, secretKey: KEY, dataDir, log: pino({ level: 'debug' }, { write: (l: string) => void (log += l) }), refreshAfterSeconds: 4 })
    // Its results consumer (made in the background, DeliverPolicy.New) must exist before the
    // broker goes down, as it does in any adapter that ran for more than a moment.
    const jsm = await jetstreamManager(adapter.nc)
    const deadline = Date.now() + 30_000
    while (!(await jsm.consumers.info(STREAMS.results, RESULTS_CONSUMER).then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error('the adapter never made its results consumer')
      await sleep(50)
    }
    return new HarborClient(`http://${adapter.address}`)
  }
  const timed = async (call: () => Promise<Response>) => {
    const started = performance.now()
    const res = await call()
    const text = await res.text()
    return { res, text, ms: performance.now() - started }
  }
  /** The job for `id` once it is in VIGIL_JOBS (no daemon consumes it here). */
  const jobInStream = async (nc: NatsConnection, id: string, timeoutMs = 30_000) => {
    const jsm = await jetstreamManager(nc)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const info = await jsm.streams.info(STREAMS.jobs)
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const msg = await jsm.streams.getMessage(STREAMS.jobs, { seq }).catch(() => null)
        const job = msg ? (unpack(Buffer.from(msg.data)) as { id: string; registry: { url: string; authorization: string } }) : undefined
        if (job?.id === id) return { job, raw: Buffer.from(msg!.data), msgId: msg!.header?.get('Nats-Msg-Id') }
      }
      if (Date.now() > deadline) throw new Error(`job ${id} never reached ${STREAMS.jobs}`)
      await sleep(200)
    }
  }

  beforeAll(async () => {
    nats = await startNats()
    dataDir = await mkdtemp(join(tmpdir(), 'vigil-outbox-'))
    const nc = await connect({ servers: nats.url })
    await ensureTopology(jetstream(nc), await jetstreamManager(nc), { ackWaitMs: 30_000, replicaId: 'outbox-test' }, { replicas: 1, explicit: false }, pino({ level: 'silent' }))
    await nc.close()
  }, 30_000)

  // Each test starts with the broker up and no adapter, whatever the one before left.
  afterEach(async () => {
    if (brokerDown) await restartBroker()
    await adapter?.close()
    adapter = undefined
  })

  afterAll(async () => {
    await nats?.dispose()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('answers 202 while the broker is down, polls 302, and sends the job once it is back', async () => {
    const harbor = await start()
    await killBroker()
    const scan = await timed(() => harbor.scan(body(1)))
    expect(scan.res.status).toBe(202)
    expect(scan.ms).toBeLessThan(HARBOR_BUDGET_MS)
    const { id } = JSON.parse(scan.text) as { id: string }
    const poll = await timed(() => harbor.report(id))
    expect(poll.res.status).toBe(302)
    expect(poll.res.headers.get('refresh-after')).toBe('4')
    expect(poll.ms).toBeLessThan(HARBOR_BUDGET_MS)
    // Kept sealed on disk, as on the wire.
    expect(filesContaining(dataDir, [SECRET, BASIC.slice(6)])).toEqual([])

    await restartBroker()
    const nc = await connect({ servers: nats.url })
    try {
      const { job, raw, msgId } = await jobInStream(nc, id)
      expect(msgId).toBe(`harbor:${id}`)
      expect(raw.includes(Buffer.from(SECRET))).toBe(false)
      expect(decryptSecret(job.registry.authorization, KEY, bindingForRegistry('http://core:8080', 'library/app'))).toBe(BASIC)
      const book = await ScanBook.open(nc)
      const deadline = Date.now() + 30_000
      while (!(await book.get(id)) && Date.now() < deadline) await sleep(100)
      expect((await book.get(id))?.status).toBe('queued')
      expect((await harbor.report(id)).status).toBe(302)
      // The daemon's result reaches the scan accepted during the outage.
      await publishScanResult(jetstream(nc), 1024 * 1024, failedResult(id, { code: 'ERR_REGISTRY_AUTH', message: 'refused', retryable: false }, 1), 'msgpack')
      let status = 302
      const settled = Date.now() + 60_000
      while (status === 302 && Date.now() < settled) {
        status = (await harbor.report(id)).status
        if (status === 302) await sleep(100)
      }
      expect(status).toBe(500)
    } finally {
      await nc.close()
    }
    expect(log).toContain('harbor scan request accepted into the outbox')
    expect(log).toContain('harbor outbox: scan request sent')
    expect(log).not.toContain(SECRET)
  }, 120_000)

  it('keeps what it accepted across a restart of the adapter and sends it at start', async () => {
    let harbor = await start()
    await killBroker()
    const res = await harbor.scan(body(2))
    expect(res.status).toBe(202)
    const { id } = (await res.json()) as { id: string }
    await adapter!.close()
    adapter = undefined
    const left = ScanOutbox.inDir(dataDir)
    expect(left.has(id)).toBe(true)
    await left.close()

    await restartBroker()
    harbor = await start()
    const nc = await connect({ servers: nats.url })
    try {
      expect((await jobInStream(nc, id)).job.id).toBe(id)
      const book = await ScanBook.open(nc)
      const deadline = Date.now() + 30_000
      while (!(await book.get(id)) && Date.now() < deadline) await sleep(100)
      expect((await book.get(id))?.status).toBe('queued')
      expect((await harbor.report(id)).status).toBe(302)
    } finally {
      await nc.close()
    }
  }, 90_000)
})

const E2E_READY = HAS_NATS_SERVER && HAS_REGISTRY_TOOLS && HAS_SHARED && HAS_CORPUS
if (!HAS_CORPUS) console.warn('[skip] harbor outbox e2e: corpus images missing in ~/.cache/vigil-corpus (../shared/tools/corpus/build.sh)')
noteRegistryToolsMissing()
noteSharedMissing('harbor outbox e2e')

describe.skipIf(!E2E_READY)('vigil serve with the broker down: the outbox in the daemon store', () => {
  const ROBOT = 'robot$scanner-outbox'
  const PASSWORD = `outbox-${process.pid}-Robot-Password`
  const CREDS = `${ROBOT}:${PASSWORD}`
  let nats: NatsServer
  let dataDir: string
  let registry: RegistryServer
  let daemon: DaemonChild | undefined
  let image: ManifestInfo

  beforeAll(async () => {
    ensureBuilt()
    nats = await startNats()
    dataDir = await mkdtemp(join(tmpdir(), 'vigil-outbox-serve-'))
    // Scans need a database; one real Debian advisory is enough.
    await run(process.execPath, [join(ROOT, 'bin', 'vigil.js'), 'db', 'import', sharedPath('advisories', 'osv', 'misc', 'Debian', 'DSA-5474-1__DependencyTrack_dependency-track.json'), '--data', dataDir])
    registry = await startRegistry({ kind: 'htpasswd', users: { [ROBOT]: PASSWORD } })
    await pushImage(`oci:${corpusOci('distroless-style')}`, registry, 'library/distroless:v1', { creds: CREDS })
    image = await inspectManifest(registry.host, 'library/distroless:v1', CREDS)
    daemon = await startServe(nats.url, dataDir)
  }, 180_000)

  afterAll(async () => {
    await daemon?.stop()
    await registry?.stop()
    await nats?.dispose()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('accepts a scan while NATS is down, keeps it across a kill -9 of the daemon, and reports it once NATS is back', async () => {
    let harbor = new HarborClient(daemon!.url)
    await nats.kill()
    const request = { registry: { url: `http://${registry.host}`, authorization: `Basic ${Buffer.from(CREDS).toString('base64')}` }, artifact: { repository: 'library/distroless', digest: image.digest, tag: 'v1', mime_type: image.mediaType } }
    const started = performance.now()
    const res = await harbor.scan(request)
    expect(res.status).toBe(202)
    expect(performance.now() - started).toBeLessThan(HARBOR_BUDGET_MS)
    const { id } = (await res.json()) as { id: string }
    expect((await harbor.report(id)).status).toBe(302)
    expect(filesContaining(dataDir, [PASSWORD, Buffer.from(CREDS).toString('base64')])).toEqual([])

    // The daemon is killed (no shutdown at all) and started again while the request waits in its store.
    const exited = new Promise((resolve) => daemon!.child.once('exit', resolve))
    process.kill(daemon!.child.pid!, 'SIGKILL')
    await exited
    const firstLog = daemon!.log()
    daemon = undefined
    await nats.restart()
    daemon = await startServe(nats.url, dataDir)
    harbor = new HarborClient(daemon.url)
    const { res: report } = await harbor.poll(id, MIME.VULN, '', 120_000)
    expect(report.status).toBe(200)
    const body = (await report.json()) as { artifact: { digest: string }; vulnerabilities: unknown[] }
    expect(body.artifact.digest).toBe(image.digest)
    expect(Array.isArray(body.vulnerabilities)).toBe(true)
    expect(firstLog).toContain('harbor scan request accepted into the outbox')
    expect(daemon.log()).toContain('harbor outbox: scan request sent')
    expect(firstLog + daemon.log()).not.toContain(PASSWORD)
  }, 300_000)
})
