/**
 * Daemon processes for integration tests: `node bin/vigil.js serve` as a child (dist/ must be
 * built: ensureBuilt), its JSON log parsed line by line, plus a client that publishes jobs and
 * collects results. Every daemon gets an explicit --nats URL of the test's own server.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstream, DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream'
import { connect, headers, type NatsConnection } from '@nats-io/transport-node'
import { pack, unpack } from 'msgpackr'
import { afterAll, beforeAll } from 'vitest'
import { ensureBuilt } from '../layers/ensure-built.js'
import { startNats, type NatsServer } from '../helpers/nats.js'
import { freePort } from '../helpers/registry.js'
import { ROOT } from '../helpers/shared.js'

export const CORPUS = join(homedir(), '.cache', 'vigil-corpus')
export const SMALL_IMAGE = join(CORPUS, 'distroless-style', 'oci')
export const HAS_SMALL_IMAGE = existsSync(join(SMALL_IMAGE, 'index.json'))
export const SMALL_TARGET = `oci:${SMALL_IMAGE}`
/** A second image with a different digest (the docker-archive of the same recipe). */
export const SMALL_ARCHIVE = `docker-archive:${join(CORPUS, 'distroless-style.docker.tar')}`

export function noteCorpusMissing(): void {
  if (!HAS_SMALL_IMAGE) console.warn(`[skip] daemon scan tests: ${SMALL_IMAGE} is missing (build it with ../shared/tools/corpus/build.sh)`)
}

/** A fixed key so that tests can encrypt credentials for the daemons they start. */
export const TEST_SECRET_KEY = Buffer.alloc(32, 7)

export interface LogLine {
  level: number
  msg: string
  [k: string]: unknown
}

export interface DaemonProcess {
  child: ChildProcess
  dataDir: string
  httpUrl: string
  logs: LogLine[]
  /** Resolves with the first log line matching, or rejects after timeoutMs. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
  kill9(): Promise<void>
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>
}

export interface DaemonOptions {
  /** Always a test's own server; undefined only for the embedded-default tests (which set VIGIL_NATS_PROBE_URL). */
  natsUrl: string | undefined
  dataDir?: string
  args?: string[]
  env?: NodeJS.ProcessEnv
  /** Resolve once the process is spawned instead of when it pulls jobs (default true: wait). */
  waitReady?: boolean
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

export async function startDaemonProcess(opts: DaemonOptions): Promise<DaemonProcess> {
  const dataDir = opts.dataDir ?? (await tempDir('vigil-daemon-'))
  const port = await freePort()
  const args = [join(ROOT, 'bin', 'vigil.js'), 'serve', ...(opts.natsUrl ? ['--nats', opts.natsUrl] : []), '--data', dataDir, '--http', `127.0.0.1:${port}`, '--workers', '1', ...(opts.args ?? [])]
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    // Jobs may name local images only below the target roots: the corpus is the tests' one.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, VIGIL_SECRET_KEY: TEST_SECRET_KEY.toString('base64'), VIGIL_TARGET_ROOTS: CORPUS, ...opts.env },
  })
  const logs: LogLine[] = []
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = []
  let buffer = ''
  child.stderr!.on('data', (d: Buffer) => {
    buffer += d.toString()
    let nl: number
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      let line: LogLine
      try {
        line = JSON.parse(text) as LogLine
      } catch {
        line = { level: 60, msg: text }
      }
      logs.push(line)
      for (const w of [...waiters]) {
        if (w.pred(line)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(line)
        }
      }
    }
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const waitFor = (pred: (l: LogLine) => boolean, timeoutMs = 30_000) => {
    const hit = logs.find(pred)
    if (hit) return Promise.resolve(hit)
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`daemon log line not seen in ${timeoutMs} ms; last lines:\n${logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs)
      waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) })
      void exited.then((code) => reject(new Error(`daemon exited (${code}) before the log line; last lines:\n${logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`)))
    })
  }
  const proc: DaemonProcess = {
    child, dataDir, httpUrl: `http://127.0.0.1:${port}`, logs, waitFor,
    kill9: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
  if (opts.waitReady !== false) await waitFor((l) => l.msg === 'pulling jobs', 30_000)
  return proc
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** afterAll of a test with its own broker: the client closed, daemons killed, all removed. */
export async function teardown(parts: { client: JobClient | undefined; daemons: DaemonProcess[]; nats: NatsServer | undefined }): Promise<void> {
  await parts.client?.close()
  for (const d of parts.daemons) await d.kill9()
  await parts.nats?.dispose()
  for (const d of parts.daemons) await removeDir(d.dataDir)
}

/** An OSV record for a feed delta: one package, affected from 0 up to `fixed`, CVSS 9.8. */
export function osvAdvisory(id: string, ecosystem: string, name: string, fixed: string): Record<string, unknown> {
  return {
    schema_version: '1.6.0',
    id,
    modified: '2026-11-01T00:00:00Z',
    summary: `${name}: test advisory`,
    affected: [{ package: { ecosystem, name }, ranges: [{ type: ecosystem === 'npm' ? 'SEMVER' : 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }] }],
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
  }
}

export interface Result {
  subject: string
  jobId: string | undefined
  digest: string | undefined
  body: Record<string, unknown>
}

/** A test-side NATS client: publishes jobs, collects every result publish (duplicates included). */
export class JobClient {
  readonly results: Result[] = []
  private constructor(readonly nc: NatsConnection, readonly js: JetStreamClient) {}

  static async open(url: string): Promise<JobClient> {
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    const client = new JobClient(nc, jetstream(nc))
    const sub = nc.subscribe('vigil.results.>')
    void (async () => {
      for await (const m of sub) client.results.push(decodeResult(m.subject, m.data, m.headers))
    })()
    await nc.flush()
    return client
  }

  async publish(subject: string, payload: unknown, encoding: 'json' | 'msgpack' = 'msgpack'): Promise<void> {
    const h = headers()
    if (encoding === 'json') h.set('Content-Type', 'application/json')
    await this.js.publish(subject, encoding === 'json' ? JSON.stringify(payload) : pack(payload), { headers: h })
  }

  async publishRaw(subject: string, data: Uint8Array, contentType?: string): Promise<void> {
    const h = headers()
    if (contentType) h.set('Content-Type', contentType)
    await this.js.publish(subject, data, { headers: h })
  }

  scanResults(): Result[] {
    return this.results.filter((r) => r.subject === 'vigil.results.scan')
  }

  async waitForResults(pred: (rs: Result[]) => boolean, timeoutMs = 30_000): Promise<Result[]> {
    const deadline = Date.now() + timeoutMs
    while (!pred(this.results)) {
      if (Date.now() > deadline) throw new Error(`results not complete after ${timeoutMs} ms: ${JSON.stringify(this.results.map((r) => [r.subject, r.jobId, r.body.status]))}`)
      await sleep(50)
    }
    return this.results
  }

  /** Every message a stream holds on `subject` (read through an ordered consumer). */
  async streamMessages(stream: string, subject?: string): Promise<Result[]> {
    // No server-side filter: nats-server 2.9 ordered consumers take none through this client.
    const consumer = await this.js.consumers.get(stream, { deliver_policy: DeliverPolicy.All })
    const out: Result[] = []
    const info = await (await import('@nats-io/jetstream')).jetstreamManager(this.nc).then((m) => m.streams.info(stream))
    if (info.state.messages === 0) return out
    const messages = await consumer.fetch({ max_messages: 10_000, expires: 1_000 })
    for await (const m of messages) {
      if (!subject || m.subject === subject || (subject.endsWith('>') && m.subject.startsWith(subject.slice(0, -1)))) out.push(decodeResult(m.subject, m.data, m.headers))
      if (m.info.pending === 0) break
    }
    return out
  }

  async close(): Promise<void> {
    await this.nc.close()
  }
}

function decodeResult(subject: string, data: Uint8Array, h: { get(k: string): string } | undefined): Result {
  const json = h?.get('Content-Type') === 'application/json'
  let body: Record<string, unknown>
  try {
    body = (json ? JSON.parse(Buffer.from(data).toString()) : unpack(data)) as Record<string, unknown>
  } catch {
    body = { undecodable: true }
  }
  return { subject, jobId: h?.get('Vigil-Job-Id') || undefined, digest: h?.get('Vigil-Digest') || undefined, body }
}

export async function getJson(url: string, token?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {})
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // metrics and other text answers stay strings
  }
  return { status: res.status, body }
}

/**
 * A feed delta's record: an OSV record shaped as Debian's OSV export writes them, naming a source
 * package (glibc, zlib) of what the small corpus image really contains.
 */
export const osv = (id: string, source: string, fixed: string) => osvAdvisory(id, 'Debian:12', source, fixed)

export interface NatsWithDaemons {
  readonly nats: NatsServer
  readonly client: JobClient
  /** Daemons the test started: killed, and their data dirs removed, after the file's tests. */
  readonly daemons: DaemonProcess[]
}

/** A test file's own nats-server and job client, set up before its tests and torn down after. */
export function natsWithDaemons(): NatsWithDaemons {
  let nats: NatsServer | undefined
  let client: JobClient | undefined
  const daemons: DaemonProcess[] = []
  beforeAll(async () => {
    ensureBuilt()
    nats = await startNats()
    client = await JobClient.open(nats.url)
  }, 60_000)
  afterAll(() => teardown({ client, daemons, nats }))
  return {
    get nats() {
      return nats!
    },
    get client() {
      return client!
    },
    daemons,
  }
}
