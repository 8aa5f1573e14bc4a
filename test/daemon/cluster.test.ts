import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../layers/ensure-built.js'
import { HAS_NATS_SERVER, noteNatsMissing } from '../helpers/nats.js'
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js'
import { HAS_SMALL_IMAGE, JobClient, noteCorpusMissing, removeDir, SMALL_ARCHIVE, SMALL_TARGET, startDaemonProcess, type DaemonProcess, type Result } from './harness.js'

noteNatsMissing()
noteCorpusMissing()

const STREAMS = ['VIGIL_JOBS', 'VIGIL_FEED', 'VIGIL_INVENTORY', 'VIGIL_RESULTS', 'VIGIL_DLQ']
const BUCKET_STREAMS = ['KV_vigil-job-ledger', 'KV_vigil-reassess-progress', 'KV_vigil-announcer', 'KV_vigil-harbor-scans']

async function replicasOf(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).config.num_replicas
}

/** Scan results VIGIL_RESULTS holds for job ids with this prefix; [] while the cluster elects a leader. */
async function storedResults(client: JobClient, prefix: string): Promise<Result[]> {
  try {
    return (await client.streamMessages('VIGIL_RESULTS', 'vigil.results.scan')).filter((r) => r.jobId?.startsWith(prefix))
  } catch {
    return []
  }
}

/**
 * The daemon on a real 3-node nats-server JetStream cluster on loopback (test/helpers/nats-cluster.ts):
 * replicated streams and buckets by default, and a replica that starts while the NATS node holding
 * its streams is down waits for it instead of exiting.
 */
describe.skipIf(!HAS_NATS_SERVER || !HAS_SMALL_IMAGE)('daemon on a 3-node NATS cluster', () => {
  let cluster: NatsCluster
  let nc: NatsConnection
  let jsm: JetStreamManager
  const daemons: DaemonProcess[] = []

  beforeAll(async () => {
    ensureBuilt()
    cluster = await startNatsCluster()
    nc = await connect({ servers: cluster.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    jsm = await jetstreamManager(nc, { timeout: 10_000 })
  }, 60_000)

  afterAll(async () => {
    await nc?.close()
    for (const d of daemons) await d.kill9()
    await cluster?.dispose()
    for (const d of daemons) await removeDir(d.dataDir)
  })

  it('the helper: a meta leader, kill -9 of it elects another, a restarted node rejoins', async () => {
    const leader = await cluster.waitForMetaLeader()
    const node = cluster.nodes.find((n) => n.name === leader)!
    const pid = node.pid()
    expect(pid).toBeGreaterThan(0)
    await node.kill()
    expect(node.running()).toBe(false)
    const next = await cluster.waitForMetaLeader()
    expect(next).not.toBe(leader)
    await node.restart()
    expect(node.pid()).not.toBe(pid)
    expect(await cluster.waitForMetaLeader()).toBeTruthy()
    const jsz = await node.jsz()
    expect(jsz.meta_cluster?.cluster_size).toBe(3)
  }, 60_000)

  it('--replicas 1 keeps one copy; a replica started while that copy\'s node is down waits for it, then scales everything to 3', async () => {
    const first = await startDaemonProcess({ natsUrl: cluster.url, args: ['--replica-id', 'r1', '--replicas', '1'] })
    daemons.push(first)
    for (const s of [...STREAMS, ...BUCKET_STREAMS]) expect(await replicasOf(jsm, s), s).toBe(1)
    expect(await first.stop()).toBe(0)

    // The node that holds VIGIL_INVENTORY's one copy goes down; the next replica cannot read it.
    const holder = (await jsm.streams.info('VIGIL_INVENTORY')).cluster!.leader!
    const node = cluster.nodes.find((n) => n.name === holder)!
    await node.kill()
    await cluster.waitForMetaLeader()
    const second = await startDaemonProcess({ natsUrl: cluster.url, args: ['--replica-id', 'r2'], waitReady: false })
    daemons.push(second)
    const waiting = await second.waitFor((l) => typeof l.waitingFor === 'string', 60_000)
    expect(String(waiting.msg)).toMatch(/^waiting for NATS JetStream: /)
    expect(waiting.retryInMs).toBeGreaterThan(0)
    // It keeps waiting (with growing delays) rather than exiting.
    await second.waitFor((l) => typeof l.waitingFor === 'string' && Number(l.tries) >= 3, 60_000)
    expect(second.child.exitCode).toBeNull()

    await node.restart()
    await second.waitFor((l) => l.msg === 'pulling jobs', 90_000)
    expect(second.logs.some((l) => String(l.msg).startsWith('NATS answered'))).toBe(true)
    // The default on a 3-server cluster raised every stream and bucket to 3.
    for (const s of [...STREAMS, ...BUCKET_STREAMS]) expect(await replicasOf(jsm, s), s).toBe(3)
    expect(second.logs.some((l) => l.msg === 'streams and buckets get 3 replica(s) (NATS reports 3 server(s))')).toBe(true)

    const client = await JobClient.open(cluster.url)
    try {
      await client.publish('vigil.jobs.scan', { id: 'after-wait', target: SMALL_TARGET })
      await client.waitForResults((rs) => rs.some((r) => r.jobId === 'after-wait'), 60_000)
      expect(client.scanResults().find((r) => r.jobId === 'after-wait')!.body.status).toBe('done')
    } finally {
      await client.close()
    }
    expect(await second.stop()).toBe(0)
  }, 240_000)

  it('a fresh cluster gets 3 replicas of every stream, bucket and durable consumer by default', async () => {
    // Start over from nothing: delete what the test above made.
    for (const s of [...STREAMS, ...BUCKET_STREAMS]) await jsm.streams.delete(s)
    const d = await startDaemonProcess({ natsUrl: cluster.url, args: ['--replica-id', 'r3'] })
    daemons.push(d)
    for (const s of [...STREAMS, ...BUCKET_STREAMS]) {
      const info = await jsm.streams.info(s)
      expect(info.config.num_replicas, s).toBe(3)
      expect(info.cluster?.replicas?.length, s).toBe(2)
    }
    for (const [stream, consumer] of [['VIGIL_JOBS', 'vigil-workers'], ['VIGIL_FEED', 'vigil-feed-r3']] as const) {
      const info = await jsm.consumers.info(stream, consumer)
      expect(info.cluster?.replicas?.length, consumer).toBe(2)
    }
    expect(await d.stop()).toBe(0)
  }, 120_000)

  it('kill -9 of a NATS node during 200 scan jobs, then of a Vigil replica: every job answered once, none lost', async () => {
    const args = ['--concurrency', '4', '--ack-wait-ms', '3000', '--retry-base-ms', '200', '--retry-max-ms', '2000']
    const [a, b] = await Promise.all(['ra', 'rb'].map((id) => startDaemonProcess({ natsUrl: cluster.url, args: ['--replica-id', id, ...args] })))
    daemons.push(a!, b!)
    const client = await JobClient.open(cluster.url)
    try {
      const ids = Array.from({ length: 200 }, (_, i) => `k-${i}`)
      for (const [i, id] of ids.entries()) await client.publish('vigil.jobs.scan', { id, target: i % 2 ? SMALL_ARCHIVE : SMALL_TARGET })
      await client.waitForResults((rs) => rs.filter((r) => r.jobId?.startsWith('k-')).length >= 20, 120_000)
      // The server leading the work queue goes: the worst one to lose.
      const leader = (await jsm.streams.info('VIGIL_JOBS')).cluster!.leader!
      const node = cluster.nodes.find((n) => n.name === leader)!
      const before = client.results.length
      const killedAt = performance.now()
      await node.kill()
      // Work resumes: the next result after the kill (a live subscriber reconnects too).
      await client.waitForResults((rs) => rs.length > before, 60_000)
      const resumedMs = performance.now() - killedAt
      const stored = () => storedResults(client, 'k-')
      const deadline = Date.now() + 180_000
      let results = await stored()
      while (new Set(results.map((r) => r.jobId)).size < ids.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1_000))
        results = await stored()
      }
      const allDoneMs = performance.now() - killedAt
      // A live subscriber sees repeats during the election (a publish retried after a lost ack,
      // a job retried before its ledger entry landed); the stream keeps one per job id.
      const live = client.results.filter((r) => r.jobId?.startsWith('k-')).length
      const retried = [a!, b!].reduce((n, d) => n + d.logs.filter((l) => String(l.msg).startsWith('job failed with a retryable fault')).length, 0)
      console.log(`[cluster] NATS node ${leader} killed with ${before} results in: next result after ${Math.round(resumedMs)} ms, all 200 stored after ${Math.round(allDoneMs)} ms; live copies ${live}, job retries ${retried}`)
      // VIGIL_RESULTS holds exactly one result per job, every one done.
      expect(results.map((r) => r.jobId).sort()).toEqual([...ids].sort())
      expect(results.every((r) => r.body.status === 'done')).toBe(true)
      expect(resumedMs).toBeLessThan(30_000)
      await node.restart()
      await cluster.waitForMetaLeader()

      // Now a Vigil replica dies mid-stream; the other finishes its jobs.
      const more = Array.from({ length: 60 }, (_, i) => `v-${i}`)
      for (const [i, id] of more.entries()) await client.publish('vigil.jobs.scan', { id, target: i % 2 ? SMALL_ARCHIVE : SMALL_TARGET })
      await client.waitForResults((rs) => rs.filter((r) => r.jobId?.startsWith('v-')).length >= 5, 60_000)
      await a!.kill9()
      const deadline2 = Date.now() + 120_000
      let after = await storedResults(client, 'v-')
      while (new Set(after.map((r) => r.jobId)).size < more.length && Date.now() < deadline2) {
        await new Promise((r) => setTimeout(r, 1_000))
        after = await storedResults(client, 'v-')
      }
      expect(after.map((r) => r.jobId).sort()).toEqual([...more].sort())
      expect(after.every((r) => r.body.status === 'done')).toBe(true)
      expect(await b!.stop()).toBe(0)
    } finally {
      await client.close()
    }
  }, 420_000)
})
