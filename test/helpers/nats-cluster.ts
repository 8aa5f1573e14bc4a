/**
 * A 3-node (or n-node) nats-server JetStream cluster of the test's own, on loopback: each node
 * has free client, route and monitoring ports and its own temp store dir, and can be killed
 * (SIGKILL) and restarted by PID on the same ports and store. Ready means every node's /jsz names
 * the same meta leader. Works on Debian's nats-server 2.9.10. Never the system server on :4222.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { NATS_SERVER_BIN } from './nats.js'
import { freePort } from './registry.js'

export interface ClusterNode {
  name: string
  url: string
  port: number
  routePort: number
  monitorPort: number
  storeDir: string
  pid(): number | undefined
  running(): boolean
  /** kill -9 and wait for the exit. */
  kill(): Promise<void>
  /** SIGTERM and wait. */
  stop(): Promise<void>
  /** Start again on the same ports and store (after kill or stop). */
  restart(): Promise<void>
  /** The node's /jsz (JetStream state as the node sees it). */
  jsz(): Promise<Jsz>
}

export interface Jsz {
  meta_cluster?: { name?: string; leader?: string; cluster_size?: number; replicas?: { name: string; current: boolean; offline?: boolean }[] }
  [k: string]: unknown
}

export interface NatsCluster {
  nodes: ClusterNode[]
  /** Every node's client URL, comma-separated (what `--nats` takes). */
  url: string
  name: string
  /** Resolves when every running node sees one meta leader (and it is a running node). */
  waitForMetaLeader(timeoutMs?: number): Promise<string>
  /** Stop every node and remove the stores. */
  dispose(): Promise<void>
}

export interface StartClusterOptions {
  size?: number
  /** Cluster name (nats `cluster { name }`). */
  name?: string
}

async function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => child.once('exit', () => resolve()))
}

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) })
    if (!res.ok) return undefined
    return (await res.json()) as T
  } catch {
    return undefined
  }
}

export async function startNatsCluster(opts: StartClusterOptions = {}): Promise<NatsCluster> {
  if (!NATS_SERVER_BIN) throw new Error('nats-server is not installed')
  const size = opts.size ?? 3
  const clusterName = opts.name ?? 'vigil-test'
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort(), monitor: await freePort() })))
  const root = await mkdtemp(join(tmpdir(), 'vigil-nats-cluster-'))
  const routes = ports.map((p) => `nats-route://127.0.0.1:${p.route}`)

  const nodes: ClusterNode[] = await Promise.all(ports.map(async (p, i) => {
    const name = `n${i + 1}`
    const storeDir = join(root, name)
    const configFile = join(root, `${name}.conf`)
    // Routes to the others only: a node that lists itself logs a warning and loops on it.
    const config = [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${p.client}`,
      `http: 127.0.0.1:${p.monitor}`,
      `jetstream { store_dir: "${storeDir}" }`,
      `cluster {`,
      `  name: ${clusterName}`,
      `  listen: 127.0.0.1:${p.route}`,
      `  routes: [${routes.filter((_, j) => j !== i).join(', ')}]`,
      `}`,
      '',
    ].join('\n')
    await writeFile(configFile, config)
    let child: ChildProcess | undefined
    let log = ''
    const launch = () => {
      const c = spawn(NATS_SERVER_BIN!, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] })
      c.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
      child = c
    }
    const signal = async (sig: NodeJS.Signals) => {
      const c = child
      if (!c || c.exitCode !== null || c.signalCode !== null) return
      c.kill(sig)
      await waitExit(c)
    }
    const node: ClusterNode = {
      name, url: `nats://127.0.0.1:${p.client}`, port: p.client, routePort: p.route, monitorPort: p.monitor, storeDir,
      pid: () => child?.pid,
      running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
      kill: () => signal('SIGKILL'),
      stop: () => signal('SIGTERM'),
      restart: async () => {
        await signal('SIGTERM')
        launch()
        const deadline = Date.now() + 15_000
        while (!(await getJson(`http://127.0.0.1:${p.monitor}/healthz`))) {
          if (child!.exitCode !== null) throw new Error(`nats-server ${name} exited (${child!.exitCode}): ${log}`)
          if (Date.now() > deadline) throw new Error(`nats-server ${name} did not come back: ${log}`)
          await sleep(50)
        }
      },
      jsz: async () => (await getJson<Jsz>(`http://127.0.0.1:${p.monitor}/jsz`)) ?? {},
    }
    launch()
    return node
  }))

  const waitForMetaLeader = async (timeoutMs = 30_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const running = nodes.filter((n) => n.running())
      const leaders = await Promise.all(running.map(async (n) => (await n.jsz()).meta_cluster?.leader))
      const leader = leaders[0]
      if (leader && leaders.every((l) => l === leader) && running.some((n) => n.name === leader)) return leader
      if (Date.now() > deadline) throw new Error(`no JetStream meta leader after ${timeoutMs} ms (nodes see: ${JSON.stringify(leaders)})`)
      await sleep(100)
    }
  }

  const cluster: NatsCluster = {
    nodes,
    url: nodes.map((n) => n.url).join(','),
    name: clusterName,
    waitForMetaLeader,
    dispose: async () => {
      await Promise.all(nodes.map((n) => n.stop()))
      await rm(root, { recursive: true, force: true })
    },
  }
  try {
    await waitForMetaLeader()
  } catch (err) {
    await cluster.dispose()
    throw err
  }
  return cluster
}
