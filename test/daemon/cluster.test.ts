import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../layers/ensure-built.js'
import { HAS_NATS_SERVER, noteNatsMissing } from '../helpers/nats.js'
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js'
import { HAS_SMALL_IMAGE, JobClient, noteCorpusMissing, removeDir, SMALL_TARGET, startDaemonProcess, type DaemonProcess } from './harness.js'

noteNatsMissing()
noteCorpusMissing()

const STREAMS = ['VIGIL_JOBS', 'VIGIL_FEED', 'VIGIL_INVENTORY', 'VIGIL_RESULTS', 'VIGIL_DLQ']
const BUCKET_STREAMS = ['KV_vigil-job-ledger', 'KV_vigil-reassess-progress', 'KV_vigil-harbor-scans']

async function replicasOf(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).config.num_replicas
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
})
