/**
 * The Kubernetes NATS configuration, run: three nats-servers from the ConfigMap's nats.conf (only
 * the addresses moved to loopback ports and the volumes to temp dirs), with POD_NAME as the
 * StatefulSet sets it, form a JetStream cluster; `vigil serve` with the StatefulSet's args and
 * environment becomes ready on it (the readiness probe's path) and, with nothing else run, has
 * given every stream, durable consumer and KV bucket three replicas; with one node killed the
 * streams keep a leader and Vigil stays ready.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { clusterServers } from '../../src/daemon/broker.js'
import { resolveReplicas } from '../../src/daemon/config.js'
import { ANNOUNCER_BUCKET, bucketStream, feedConsumerName, JOBS_CONSUMER, LEDGER_BUCKET, REASSESS_BUCKET, STREAMS } from '../../src/daemon/subjects.js'
import { SCANS_BUCKET } from '../../src/http/harbor/scans.js'
import { ensureBuilt } from '../layers/ensure-built.js'
import { NATS_SERVER_BIN, noteNatsMissing } from '../helpers/nats.js'
import { freePort } from '../helpers/registry.js'
import { ROOT } from '../helpers/shared.js'
import { podTemplates, readDocuments, type Container } from './kube.js'

noteNatsMissing()
const K8S = join(ROOT, 'deploy', 'kubernetes')
const nats = readDocuments(join(K8S, 'nats.yaml'))
const vigilDocs = readDocuments(join(K8S, 'vigil.yaml'))
const conf = (nats.find((o) => o.kind === 'ConfigMap')!.data as Record<string, string>)['nats.conf']!
const natsSet = podTemplates(nats)[0]!
const vigil = podTemplates(vigilDocs).find((t) => t.owner.kind === 'StatefulSet')!
const vigilContainer = vigil.spec.containers[0]!
const replicas = (natsSet.owner.spec as { replicas: number }).replicas
const vigilStreams = [...Object.values(STREAMS), ...[LEDGER_BUCKET, REASSESS_BUCKET, ANNOUNCER_BUCKET, SCANS_BUCKET].map(bucketStream)]

interface Node { name: string; client: number; cluster: number; monitor: number; dir: string; child?: ChildProcess; log: string }

/** The ConfigMap's nats.conf for node i, with its listeners on loopback ports and its paths in a temp dir. */
function localConf(node: Node, nodes: Node[]): string {
  let text = conf
    .replace(/^port: \d+$/m, `host: 127.0.0.1\nport: ${node.client}`)
    .replace(/^http_port: \d+$/m, `http: 127.0.0.1:${node.monitor}`)
    .replace(/^pid_file: \S+$/m, `pid_file: ${join(node.dir, 'nats.pid')}`)
    .replace(/store_dir: \S+/, `store_dir: ${join(node.dir, 'data')}`)
    .replace(/(cluster \{[^}]*?)port: \d+/, `$1host: 127.0.0.1\n      port: ${node.cluster}`)
  nodes.forEach((other, i) => {
    text = text.replace(new RegExp(`nats://${natsSet.owner.metadata.name}-${i}\\.[a-z-]+:\\d+`), `nats://127.0.0.1:${other.cluster}`)
  })
  if (/nats-headless|:(6222|4222|8222)\b|store_dir: \/data\b/.test(text)) throw new Error(`a cluster address or path was not moved:\n${text}`)
  return text
}

function startNode(node: Node, nodes: Node[]): void {
  mkdirSync(node.dir, { recursive: true })
  writeFileSync(join(node.dir, 'nats.conf'), localConf(node, nodes))
  const podName = natsSet.spec.containers[0]!.env!.find((e) => e.name === 'POD_NAME')!
  expect(podName.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name')
  node.child = spawn(NATS_SERVER_BIN!, ['-c', join(node.dir, 'nats.conf')], { env: { POD_NAME: node.name }, stdio: ['ignore', 'ignore', 'pipe'] })
  node.child.stderr!.on('data', (d: Buffer) => { node.log = (node.log + d.toString()).slice(-4000) })
}

async function status(url: string, headers: Record<string, string> = {}): Promise<{ code: number; body: string }> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) })
    return { code: res.status, body: await res.text() }
  } catch {
    return { code: 0, body: '' }
  }
}

/** Polls until check() is true; generous deadline (a loaded 2-core machine), never a speed assertion. */
async function until(what: string, check: () => Promise<boolean>, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(250)
  }
}

function probePath(container: Container, probe: 'readinessProbe' | 'livenessProbe'): string {
  return container[probe]!.httpGet!.path
}

describe.skipIf(!NATS_SERVER_BIN)('the Kubernetes NATS cluster and Vigil on it, run on loopback', () => {
  const root = mkdtempSync(join(tmpdir(), 'vigil-cluster-'))
  const nodes: Node[] = []
  let daemon: ChildProcess | undefined
  let daemonLog = ''
  let httpUrl = ''
  let nc: NatsConnection | undefined
  let jsm: JetStreamManager

  beforeAll(async () => {
    ensureBuilt()
    for (let i = 0; i < replicas; i++) nodes.push({ name: `${natsSet.owner.metadata.name}-${i}`, client: await freePort(), cluster: await freePort(), monitor: await freePort(), dir: join(root, `n${i}`), log: '' })
    for (const node of nodes) startNode(node, nodes)
  }, 60_000)

  afterAll(async () => {
    await nc?.close()
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM')
      await new Promise((resolve) => daemon!.once('exit', resolve))
    }
    for (const node of nodes) {
      if (node.child && node.child.exitCode === null && node.child.signalCode === null) {
        node.child.kill('SIGTERM')
        await new Promise((resolve) => node.child!.once('exit', resolve))
      }
    }
    rmSync(root, { recursive: true, force: true })
  }, 60_000)

  test('three servers with JetStream form one cluster: each answers the liveness and readiness probe paths and has two routes', async () => {
    const natsContainer = natsSet.spec.containers[0]!
    for (const node of nodes) {
      for (const path of [probePath(natsContainer, 'livenessProbe'), probePath(natsContainer, 'readinessProbe')]) {
        await until(`${node.name} ${path}: ${node.log}`, async () => (await status(`http://127.0.0.1:${node.monitor}${path}`)).code === 200)
      }
      await until(`${node.name} routes`, async () => (JSON.parse((await status(`http://127.0.0.1:${node.monitor}/routez`)).body || '{}') as { num_routes?: number }).num_routes === replicas - 1)
    }
    await until('a JetStream meta leader over three peers', async () => {
      const jsz = JSON.parse((await status(`http://127.0.0.1:${nodes[0]!.monitor}/jsz`)).body || '{}') as { meta_cluster?: { leader?: string; cluster_size?: number } }
      return Boolean(jsz.meta_cluster?.leader) && jsz.meta_cluster?.cluster_size === replicas
    })
    const varz = JSON.parse((await status(`http://127.0.0.1:${nodes[1]!.monitor}/varz`)).body) as { server_name: string; max_payload: number }
    expect(varz.server_name).toBe(nodes[1]!.name)
    expect(varz.max_payload).toBe(8 * 1024 * 1024)
  }, 120_000)

  test('`vigil serve` with the StatefulSet\'s args and environment becomes ready on the cluster', async () => {
    const port = await freePort()
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }
    for (const e of vigilContainer.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = `${vigil.owner.metadata.name}-0`
    }
    // What the Secret and the Services give a pod, moved to this machine: a token, a key, the
    // three client ports behind the `nats` Service, a loopback HTTP port, a temp data dir.
    env.VIGIL_API_TOKEN = 'cluster-test-token'
    env.VIGIL_SECRET_KEY = Buffer.alloc(32, 9).toString('base64')
    env.NATS_URL = nodes.map((n) => `nats://127.0.0.1:${n.client}`).join(',')
    env.VIGIL_HTTP = `127.0.0.1:${port}`
    env.VIGIL_DATA = join(root, 'vigil')
    httpUrl = `http://127.0.0.1:${port}`
    daemon = spawn(process.execPath, [join(ROOT, 'bin', 'vigil.js'), ...vigilContainer.args!], { env, stdio: ['ignore', 'ignore', 'pipe'] })
    daemon.stderr!.on('data', (d: Buffer) => { daemonLog = (daemonLog + d.toString()).slice(-6000) })
    await until(`vigil ${probePath(vigilContainer, 'readinessProbe')}; log:\n${daemonLog}`, async () => (await status(httpUrl + probePath(vigilContainer, 'readinessProbe'))).code === 200)
    expect((await status(httpUrl + probePath(vigilContainer, 'livenessProbe'))).code).toBe(200)
    // Everything else needs the token from the Secret.
    expect((await status(`${httpUrl}/api/v1/metadata`)).code).toBe(401)
    expect((await status(`${httpUrl}/api/v1/metadata`, { authorization: 'Bearer cluster-test-token' })).code).toBe(200)
  }, 120_000)

  test('with no Job and no nats CLI, the daemon itself has given every stream, durable consumer and KV bucket three replicas', async () => {
    nc = await connect({ servers: nodes.map((n) => `nats://127.0.0.1:${n.client}`), maxReconnectAttempts: -1, reconnectTimeWait: 200 })
    jsm = await jetstreamManager(nc)
    // The cluster hides its client URLs (no_advertise): left to its default, the daemon would count one server and keep one copy.
    expect(resolveReplicas(undefined, clusterServers(nc)).replicas).toBe(1)
    const onServer: string[] = []
    for await (const info of jsm.streams.list()) onServer.push(info.config.name)
    expect(onServer).toEqual(expect.arrayContaining(vigilStreams))
    // Nothing but the daemon has run, so every stream on the cluster is one it made.
    for (const name of onServer) {
      await until(`${name} on three servers`, async () => {
        const info = await jsm.streams.info(name)
        return info.config.num_replicas === replicas && (info.cluster?.replicas ?? []).filter((r) => r.current).length === replicas - 1
      })
    }
    const durables: string[] = []
    for (const stream of onServer) {
      for await (const consumer of jsm.consumers.list(stream)) {
        // The ordered consumers that follow VIGIL_INVENTORY are ephemeral, one copy by design (docs/messages.md).
        if (!consumer.config.durable_name) continue
        durables.push(consumer.name)
        await until(`${stream} > ${consumer.name} on three servers`, async () => ((await jsm.consumers.info(stream, consumer.name)).cluster?.replicas ?? []).length === replicas - 1)
      }
    }
    expect(durables).toEqual(expect.arrayContaining([JOBS_CONSUMER, feedConsumerName(`${vigil.owner.metadata.name}-0`)]))
  }, 120_000)

  test('with one NATS node killed, every stream keeps a leader and Vigil stays (or becomes again) ready', async () => {
    const victim = nodes[0]!
    victim.child!.kill('SIGKILL')
    await new Promise((resolve) => victim.child!.once('exit', resolve))
    for (const name of vigilStreams) {
      await until(`${name} leader after losing ${victim.name}`, async () => {
        try {
          const info = await jsm.streams.info(name)
          return Boolean(info.cluster?.leader) && info.cluster?.leader !== victim.name
        } catch {
          return false
        }
      })
    }
    await until(`vigil ready after losing ${victim.name}; log:\n${daemonLog}`, async () => (await status(httpUrl + probePath(vigilContainer, 'readinessProbe'))).code === 200)
  }, 180_000)
})
