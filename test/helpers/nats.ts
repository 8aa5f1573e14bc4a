/**
 * A nats-server of the test's own: -js on a free 127.0.0.1 port with a temp store dir, stopped,
 * killed and restarted by PID (same port, same store, so durable consumers survive a restart).
 * Never the system server on :4222.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './registry.js'

export const NATS_SERVER_BIN = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((p) => existsSync(p))
export const HAS_NATS_SERVER = NATS_SERVER_BIN !== undefined

export function noteNatsMissing(): void {
  if (!HAS_NATS_SERVER) console.warn('[skip] NATS tests: no nats-server binary (apt-get install nats-server)')
}

export interface NatsServer {
  url: string
  port: number
  storeDir: string
  pid(): number | undefined
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>
  /** SIGKILL and wait. */
  kill(): Promise<void>
  /** Start again on the same port and store. */
  restart(): Promise<void>
  /** Stop and remove the store. */
  dispose(): Promise<void>
}

export interface StartNatsOptions {
  jetstream?: boolean
  /** Broker max payload in bytes (nats-server default 1 MiB). */
  maxPayload?: number
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

async function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => child.once('exit', () => resolve()))
}

export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  if (!NATS_SERVER_BIN) throw new Error('nats-server is not installed')
  const port = await freePort()
  const storeDir = await mkdtemp(join(tmpdir(), 'vigil-nats-'))
  let child: ChildProcess | undefined
  let log = ''

  const launch = async () => {
    const args = ['-a', '127.0.0.1', '-p', String(port), ...(opts.jetstream === false ? [] : ['-js', '-sd', storeDir])]
    if (opts.maxPayload) args.push('--max_payload', String(opts.maxPayload))
    const c = spawn(NATS_SERVER_BIN!, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    c.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
    child = c
    const deadline = Date.now() + 10_000
    while (!(await portOpen(port))) {
      if (c.exitCode !== null) throw new Error(`nats-server exited (${c.exitCode}): ${log}`)
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port}: ${log}`)
      await sleep(25)
    }
    // JetStream finishes recovering its store just after the port opens.
    if (opts.jetstream !== false) await sleep(100)
  }

  const signal = async (sig: NodeJS.Signals) => {
    const c = child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    c.kill(sig)
    await waitExit(c)
  }

  await launch()
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    pid: () => child?.pid,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    restart: async () => {
      await signal('SIGTERM')
      await launch()
    },
    dispose: async () => {
      await signal('SIGTERM')
      await rm(storeDir, { recursive: true, force: true })
    },
  }
}
