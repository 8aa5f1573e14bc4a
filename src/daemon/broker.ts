import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { VigilError } from '../errors.js'
import { DEFAULTS, type DaemonConfig } from './config.js'
import type { Logger } from './logger.js'

export const DEFAULT_NATS_URL = DEFAULTS.natsProbeUrl

export interface Broker {
  nc: NatsConnection
  url: string
  /** The nats-server this daemon started (the embedded default), stopped with the daemon. */
  embedded?: ChildProcess
  close(): Promise<void>
}

/**
 * --nats / NATS_URL when given; otherwise the conventional local server, and when nothing answers
 * there, a nats-server of our own with its store under the data dir. A server without JetStream
 * is refused with ERR_BROKER_NO_JETSTREAM (exit 2) rather than silently degraded.
 */
export async function connectBroker(config: Readonly<DaemonConfig>, log: Logger): Promise<Broker> {
  if (config.natsUrl) return open(config.natsUrl, log)
  try {
    return await open(config.natsProbeUrl, log, { probe: true })
  } catch (err) {
    if (VigilError.is(err) && err.code === 'ERR_BROKER_NO_JETSTREAM') throw err
  }
  return embed(config, log)
}

async function open(url: string, log: Logger, opts: { probe?: boolean } = {}): Promise<Broker> {
  let nc: NatsConnection
  try {
    nc = await connect({
      servers: url.split(','),
      name: 'vigil-daemon',
      // Once up, never give up: a broker restart is an outage to wait out, not a reason to exit.
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: opts.probe ? 1_000 : 5_000,
      ...(opts.probe ? {} : { waitOnFirstConnect: false }),
    })
  } catch (err) {
    throw new VigilError('ERR_BROKER', `cannot connect to NATS at ${url}: ${(err as Error).message}`, { cause: err })
  }
  const noJetStream = async (detail: string, cause?: unknown) => {
    await nc.close().catch(() => undefined)
    return new VigilError('ERR_BROKER_NO_JETSTREAM', `the NATS server at ${url} does not have JetStream enabled (start it with -js): ${detail}`, { cause })
  }
  // A server says in its INFO whether JetStream is on; a cluster member that has it on may still
  // have no JetStream leader for a while (servers down, an election): that is waited out.
  if (nc.info && !nc.info.jetstream) throw await noJetStream('its INFO says jetstream: false')
  try {
    const check = async () => (await jetstreamManager(nc, { timeout: 5_000 })).getAccountInfo()
    await (opts.probe ? check() : untilAvailable('the JetStream API (a meta leader)', check, log))
  } catch (err) {
    throw await noJetStream((err as Error).message, err)
  }
  log.info({ nats: url }, 'connected to NATS')
  return { nc, url, close: () => nc.drain().catch(() => nc.close()) }
}

/**
 * How many servers the connected NATS cluster has, as its INFO tells clients: `cluster` is set
 * only on a clustered server, and `connect_urls` lists the client URL of every server that is
 * routed to it now (itself included). 1 for a single server, or a cluster that hides its URLs
 * (`no_advertise`): set --replicas there.
 */
export function clusterServers(nc: NatsConnection): number {
  const info = nc.info
  if (!info?.cluster) return 1
  return Math.max(1, new Set(info.connect_urls ?? []).size)
}

// JetStream API errors that mean "not now" on a cluster: no meta leader or stream leader yet
// (10008 temporarily unavailable, 10009 no leader for the request), too few servers up to place
// replicas (10005, 10023), a stream whose servers are all down (10118 offline).
const TRANSIENT_API_CODES = new Set([10005, 10008, 10009, 10023, 10118])

/** A broker fault worth waiting out: request timeouts, no responders, JetStream clustering gaps. */
export function isTransientBrokerError(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return TRANSIENT_API_CODES.has(err.code) || err.status === 503
  const e = err as { name?: string; message?: string; code?: string | number }
  if (e?.name === 'TimeoutError' || e?.name === 'NoResponders' || e?.name === 'RequestError') return true
  return /timeout|no responders|temporarily unavailable|insufficient resources|no suitable peers|offline/i.test(e?.message ?? '')
}

/**
 * Runs `attempt` until it succeeds, waiting out transient broker faults with a growing delay
 * (250 ms doubling to 10 s) and saying each time what it waits for; any other error is thrown.
 * A replica that starts while a NATS node (or the one holding a stream) is down waits here,
 * instead of exiting, until the cluster can answer.
 */
export async function untilAvailable<T>(what: string, attempt: () => Promise<T>, log: Logger, opts: { signal?: AbortSignal; firstDelayMs?: number; maxDelayMs?: number } = {}): Promise<T> {
  let delay = opts.firstDelayMs ?? 250
  const started = Date.now()
  for (let tries = 1; ; tries++) {
    try {
      const value = await attempt()
      if (tries > 1) log.info({ waitingFor: what, tries, waitedMs: Date.now() - started }, `NATS answered: ${what}`)
      return value
    } catch (err) {
      if (!isTransientBrokerError(err) || opts.signal?.aborted) throw err
      log.warn({ waitingFor: what, tries, retryInMs: delay, error: (err as Error).message }, `waiting for NATS JetStream: ${what} (${(err as Error).message}); a NATS node or a stream's leader may be down`)
      await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined)
      delay = Math.min(opts.maxDelayMs ?? 10_000, delay * 2)
    }
  }
}

export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = name.includes('/') ? [name] : [...(env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'].map((d) => join(d, name))
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch {
      // keep looking
    }
  }
  return undefined
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0))
    })
  })
}

async function embed(config: Readonly<DaemonConfig>, log: Logger): Promise<Broker> {
  const bin = findExecutable(config.natsServerBin)
  if (!bin) {
    throw new VigilError('ERR_CONFIG', `no NATS server answers at ${config.natsProbeUrl} and there is no ${config.natsServerBin} binary to start one: install it (apt-get install nats-server) or pass --nats URL`)
  }
  const storeDir = join(config.dataDir, 'nats')
  mkdirSync(storeDir, { recursive: true })
  const port = await freeLoopbackPort()
  const child = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)))
  const url = `nats://127.0.0.1:${port}`
  log.warn({ nats: url, store: storeDir, pid: child.pid }, `no NATS server at ${config.natsProbeUrl}: started an embedded nats-server -js (store ${storeDir})`)
  const started = Date.now()
  for (;;) {
    if (child.exitCode !== null) throw new VigilError('ERR_BROKER', `the embedded nats-server exited with code ${child.exitCode}: ${stderr.trim()}`)
    try {
      const broker = await open(url, log, { probe: true })
      return {
        ...broker,
        embedded: child,
        close: async () => {
          await broker.close().catch(() => undefined)
          await stopChild(child)
        },
      }
    } catch (err) {
      if (Date.now() - started > 10_000) {
        await stopChild(child)
        throw err
      }
      await sleep(100)
    }
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}
