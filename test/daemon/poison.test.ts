import { execFileSync } from 'node:child_process'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../layers/ensure-built.js'
import { HAS_NATS_SERVER, noteNatsMissing, startNats, type NatsServer } from '../helpers/nats.js'
import { JobClient, osvAdvisory, removeDir, startDaemonProcess, teardown, tempDir, type DaemonProcess } from './harness.js'
import { consumerState, deadLetters, streamCount } from './stream-kit.js'

noteNatsMissing()


/**
 * Poison messages against the installed nats-server (Debian's 2.9.10 ignores `+TERM <reason>`),
 * with a one-second ack wait so that a message the server did not take as ended is seen again.
 * Each refused or failed message must be delivered a bounded number of times, leave the work
 * queue, and leave exactly one copy in VIGIL_DLQ and exactly one result.
 */
describe.skipIf(!HAS_NATS_SERVER)('poison messages end exactly once', () => {
  let nats: NatsServer
  let client: JobClient
  let fifoDir: string
  const daemons: DaemonProcess[] = []
  const args = ['--max-deliveries', '3', '--ack-wait-ms', '1000', '--retry-base-ms', '200', '--retry-max-ms', '400', '--job-timeout-ms', '2000', '--concurrency', '1']

  beforeAll(async () => {
    ensureBuilt()
    nats = await startNats()
    client = await JobClient.open(nats.url)
    fifoDir = await tempDir('vigil-fifo-')
    daemons.push(await startDaemonProcess({ natsUrl: nats.url, args: ['--replica-id', 'replica-a', ...args] }))
  }, 60_000)

  afterAll(async () => {
    await teardown({ client, daemons, nats })
    if (fifoDir) await removeDir(fifoDir)
  })

  it('refused jobs are delivered once, leave the work queue, and have one DLQ copy and one result', async () => {
    const [daemon] = daemons
    await client.publishRaw('vigil.jobs.scan', Buffer.from('{"id": "broken'), 'application/json')
    await client.publish('vigil.jobs.scan', { id: 'refused-schema', target: 42 }, 'json')
    await client.publish('vigil.jobs.nothing', { id: 'unknown-subject' })
    await client.publish('vigil.jobs.reassess', { id: 'after-refused', all: true })
    await client.waitForResults((rs) => rs.some((r) => r.jobId === 'after-refused'))

    // Several ack waits: a message whose term the server ignored would be back by now.
    await sleep(4_000)
    const jobs = await consumerState(client, 'VIGIL_JOBS', 'vigil-workers')
    expect(jobs).toMatchObject({ ackPending: 0, redelivered: 0 })
    expect(await streamCount(client, 'VIGIL_JOBS')).toBe(0)

    const dlq = await deadLetters(client)
    expect(dlq.map((d) => d.subject).sort()).toEqual(['vigil.dlq.vigil.jobs.nothing', 'vigil.dlq.vigil.jobs.scan', 'vigil.dlq.vigil.jobs.scan'])
    expect(dlq.filter((d) => d.code === 'ERR_MESSAGE_INVALID')).toHaveLength(3)
    expect(new Set(dlq.map((d) => d.originalSeq)).size).toBe(3)
    expect(dlq.every((d) => d.deliveries === 1)).toBe(true)

    const refused = client.scanResults().filter((r) => r.jobId === 'refused-schema')
    expect(refused).toHaveLength(1)
    expect(refused[0]!.body).toMatchObject({ status: 'failed', error: { code: 'ERR_MESSAGE_INVALID' } })
    expect(daemon!.logs.filter((l) => l.msg.includes('dead-lettered'))).toHaveLength(3)
  }, 40_000)

  it('a FIFO as target is refused at once: one delivery, one failed result, one DLQ copy', async () => {
    const fifo = join(fifoDir, 'image.tar')
    execFileSync('mkfifo', [fifo])
    await client.publish('vigil.jobs.scan', { id: 'fifo-job', target: `docker-archive:${fifo}` })
    await client.waitForResults((rs) => rs.some((r) => r.jobId === 'fifo-job'), 60_000)
    const results = client.scanResults().filter((r) => r.jobId === 'fifo-job')
    expect(results).toHaveLength(1)
    expect(results[0]!.body).toMatchObject({ status: 'failed', error: { code: 'ERR_TARGET_INVALID' }, deliveries: 1 })
  }, 90_000)

  it('a job stuck on a registry that never answers times out, frees its slot, is retried up to --max-deliveries, and ends with one failed result', async () => {
    // Accepts connections and never answers: the work cannot hear the time limit, only be abandoned.
    const sockets: Socket[] = []
    const silent = createServer((socket) => void sockets.push(socket))
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done))
    const port = (silent.address() as AddressInfo).port
    try {
      await client.publish('vigil.jobs.scan', { id: 'stuck-job', target: `http://127.0.0.1:${port}/app:1` })
      // One slot (--concurrency 1): this job is answered only if the stuck job gave its slot back.
      await client.publish('vigil.jobs.reassess', { id: 'after-stuck', all: true })
      await client.waitForResults((rs) => rs.some((r) => r.jobId === 'stuck-job') && rs.some((r) => r.jobId === 'after-stuck'), 60_000)
      await sleep(2_000)

      const results = client.scanResults().filter((r) => r.jobId === 'stuck-job')
      expect(results).toHaveLength(1)
      expect(results[0]!.body).toMatchObject({ status: 'failed', error: { code: 'ERR_TIMEOUT' }, deliveries: 3 })
      const dlq = (await deadLetters(client)).filter((d) => d.code === 'ERR_TIMEOUT')
      expect(dlq).toHaveLength(1)
      expect(dlq[0]!.deliveries).toBe(3)
      expect(await streamCount(client, 'VIGIL_JOBS')).toBe(0)
    } finally {
      for (const socket of sockets) socket.destroy()
      silent.close()
    }
  }, 90_000)

  it('a schema-invalid delta and one that throws while applied are dead-lettered once; later deltas apply; a new replica gets ready', async () => {
    const [daemon] = daemons
    await client.publish('vigil.feed.delta', { records: 'not a list' })
    await client.publish('vigil.feed.delta', { records: [osvAdvisory('CVE-2099-3000', 'npm', 'a'.repeat(20_000), '1.0.0')] })
    await client.publish('vigil.feed.delta', { records: [osvAdvisory('CVE-2099-3001', 'npm', 'left-pad', '1.3.1')] })
    const applied = await daemon!.waitFor((l) => l.msg === 'feed delta applied' && l.records === 1, 60_000)
    expect(applied.seq).toBe(3)

    // Bounded: the throwing delta was tried --max-deliveries times, then dead-lettered.
    expect(daemon!.logs.filter((l) => l.msg === 'feed delta not applied; will be redelivered' && l.seq === 2)).toHaveLength(2)
    let dlq = (await deadLetters(client)).filter((d) => d.subject === 'vigil.dlq.vigil.feed.delta')
    expect(dlq.map((d) => [d.originalSeq, d.code, d.deliveries]).sort()).toEqual([[1, 'ERR_MESSAGE_INVALID', 1], [2, 'ERR_INTERNAL', 3]])
    expect(await consumerState(client, 'VIGIL_FEED', 'vigil-feed-replica-a')).toMatchObject({ ackPending: 0, pending: 0 })

    // A replica started now replays all three deltas and still becomes ready (startDaemonProcess
    // waits for it); the poison deltas keep their one DLQ copy each.
    const b = await startDaemonProcess({ natsUrl: nats.url, args: ['--replica-id', 'replica-b', ...args] })
    daemons.push(b)
    expect(b.logs.some((l) => l.msg === 'feed delta applied' && l.seq === 3)).toBe(true)
    dlq = (await deadLetters(client)).filter((d) => d.subject === 'vigil.dlq.vigil.feed.delta')
    expect(dlq).toHaveLength(2)
    expect(await consumerState(client, 'VIGIL_FEED', 'vigil-feed-replica-b')).toMatchObject({ ackPending: 0, pending: 0 })
  }, 120_000)

  it('SIGTERM after abandoned work exits 0 rather than hanging', async () => {
    const [daemon] = daemons
    const code = await Promise.race([daemon!.stop(), sleep(60_000).then(() => 'hung' as const)])
    expect(code).toBe(0)
  }, 90_000)
})
