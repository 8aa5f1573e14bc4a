import { createHash } from 'node:crypto'
import { availableParallelism, hostname } from 'node:os'
import { deepFreeze, resolveDataDir } from '../config.js'
import { isAbsolute, resolve } from 'node:path'
import { VigilError } from '../errors.js'
import { parseList, type TargetPolicy } from '../image/target-policy.js'

/**
 * Everything `vigil serve` is told, validated once at start and frozen: no part of the daemon
 * re-reads flags or the environment later. docs/configuration.md lists each field with its flag,
 * variable and default.
 */
export interface DaemonConfig {
  /** Broker URL from --nats / NATS_URL; absent = probe nats://127.0.0.1:4222, else embed. */
  natsUrl: string | undefined
  /** Where HTTP listens; undefined when --http off. */
  http: { host: string; port: number } | undefined
  dataDir: string
  /** Layer worker threads. */
  workers: number
  /** Jobs in flight at once (the pull window). */
  concurrency: number
  replicaId: string
  /** Deliveries of one job before it goes to the dead-letter subject. */
  maxDeliveries: number
  maxMessageBytes: number
  ackWaitMs: number
  /** One job's time limit (a hung registry ends as ERR_TIMEOUT, retried). */
  jobTimeoutMs: number
  /** On SIGTERM, how long in-flight jobs may still finish before they are nak'ed. */
  graceMs: number
  /** Nak delay: base × 2^(delivery-1), capped. */
  retryBaseMs: number
  retryMaxMs: number
  apiToken: string | undefined
  logLevel: string
  /** The nats-server binary the embedded default runs. */
  natsServerBin: string
  /** Where a broker is looked for before embedding one (DESIGN.md: nats://127.0.0.1:4222). */
  natsProbeUrl: string
  /**
   * Replicas of every stream and KV bucket, from --replicas / VIGIL_REPLICAS; undefined = the
   * default, chosen once connected: 3 on a NATS cluster of 3 or more servers, else 1.
   */
  replicas: number | undefined
  /** How often indexed images missing from VIGIL_INVENTORY are looked for and republished; 0 = never. */
  reconcileMs: number
  /** Which targets a job may name (local roots, registry allow/deny lists); src/image/target-policy.ts. */
  targetPolicy: TargetPolicy
}

export const DEFAULTS = {
  http: '127.0.0.1:8080',
  maxDeliveries: 5,
  maxMessageBytes: 1024 * 1024,
  ackWaitMs: 30_000,
  jobTimeoutMs: 10 * 60_000,
  graceMs: 20_000,
  retryBaseMs: 1_000,
  retryMaxMs: 60_000,
  logLevel: 'info',
  natsServerBin: 'nats-server',
  natsProbeUrl: 'nats://127.0.0.1:4222',
  reconcileMs: 15 * 60_000,
} as const

/** JetStream keeps at most five copies of a stream. */
export const MAX_REPLICAS = 5

export type ServeFlags = Partial<Record<
  'nats' | 'http' | 'data' | 'workers' | 'concurrency' | 'replica-id' | 'max-deliveries' | 'max-message-bytes' | 'ack-wait-ms' | 'job-timeout-ms' | 'grace-ms' | 'retry-base-ms' | 'retry-max-ms' | 'log-level' | 'replicas' | 'reconcile-ms'
  | 'target-roots' | 'registry-allow' | 'registry-deny',
  string
>>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function integer(name: string, text: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined || text === '') return fallback
  if (!/^\d+$/.test(text.trim())) throw new VigilError('ERR_CONFIG', `${name} must be a whole number, got "${text}"`)
  const n = Number(text)
  if (n < min || n > max) throw new VigilError('ERR_CONFIG', `${name} must be between ${min} and ${max}, got ${n}`)
  return n
}

export function parseHostPort(text: string): { host: string; port: number } | undefined {
  if (text === 'off') return undefined
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text)
  if (!m || Number(m[2]) > 65535) throw new VigilError('ERR_CONFIG', `--http must be HOST:PORT (or "off"), got "${text}"`)
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) }
}

function natsUrl(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined
  // nats.js takes comma-separated server lists; each must parse as a URL with a nats-ish scheme.
  for (const part of text.split(',')) {
    const withScheme = part.includes('://') ? part : `nats://${part}`
    let url: URL
    try {
      url = new URL(withScheme)
    } catch {
      throw new VigilError('ERR_CONFIG', `--nats / NATS_URL: "${part}" is not a URL`)
    }
    if (!['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol)) throw new VigilError('ERR_CONFIG', `--nats / NATS_URL: unsupported scheme ${url.protocol} in "${part}"`)
  }
  return text
}

/** A stable default replica id: the host plus a hash of the data dir, so two daemons on one host differ. */
export function defaultReplicaId(dataDir: string): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'host'
  return `${host}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}`
}

export function parseDaemonConfig(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): Readonly<DaemonConfig> {
  const dataDir = resolveDataDir(flags.data, env)
  const cores = availableParallelism()
  const workers = integer('--workers', flags.workers, cores, 1, 256)
  const replicaId = flags['replica-id'] ?? env.VIGIL_REPLICA_ID ?? defaultReplicaId(dataDir)
  // The id becomes part of a durable consumer name, which NATS restricts to these characters.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(replicaId)) throw new VigilError('ERR_CONFIG', `--replica-id / VIGIL_REPLICA_ID must be 1-64 of A-Z a-z 0-9 _ -, got "${replicaId}"`)
  const logLevel = flags['log-level'] ?? env.VIGIL_LOG_LEVEL ?? DEFAULTS.logLevel
  if (!LOG_LEVELS.includes(logLevel)) throw new VigilError('ERR_CONFIG', `--log-level must be one of ${LOG_LEVELS.join(', ')}`)
  const retryBaseMs = integer('--retry-base-ms', flags['retry-base-ms'], DEFAULTS.retryBaseMs, 1, 3_600_000)
  const retryMaxMs = integer('--retry-max-ms', flags['retry-max-ms'], DEFAULTS.retryMaxMs, 1, 24 * 3_600_000)
  if (retryMaxMs < retryBaseMs) throw new VigilError('ERR_CONFIG', '--retry-max-ms must be at least --retry-base-ms')
  const config: DaemonConfig = {
    natsUrl: natsUrl(flags.nats ?? env.NATS_URL),
    http: parseHostPort(flags.http ?? env.VIGIL_HTTP ?? DEFAULTS.http),
    dataDir,
    workers,
    concurrency: integer('--concurrency', flags.concurrency, workers * 2, 1, 1024),
    replicaId,
    maxDeliveries: integer('--max-deliveries', flags['max-deliveries'], DEFAULTS.maxDeliveries, 1, 1000),
    maxMessageBytes: integer('--max-message-bytes', flags['max-message-bytes'], DEFAULTS.maxMessageBytes, 1024, 64 * 1024 * 1024),
    ackWaitMs: integer('--ack-wait-ms', flags['ack-wait-ms'], DEFAULTS.ackWaitMs, 1000, 3_600_000),
    jobTimeoutMs: integer('--job-timeout-ms', flags['job-timeout-ms'], DEFAULTS.jobTimeoutMs, 100, 24 * 3_600_000),
    graceMs: integer('--grace-ms', flags['grace-ms'], DEFAULTS.graceMs, 0, 3_600_000),
    retryBaseMs,
    retryMaxMs,
    apiToken: env.VIGIL_API_TOKEN === '' ? undefined : env.VIGIL_API_TOKEN,
    logLevel,
    natsServerBin: env.VIGIL_NATS_SERVER ?? DEFAULTS.natsServerBin,
    natsProbeUrl: natsUrl(env.VIGIL_NATS_PROBE_URL) ?? DEFAULTS.natsProbeUrl,
    replicas: replicaCount(flags.replicas ?? env.VIGIL_REPLICAS),
    reconcileMs: integer('--reconcile-ms', flags['reconcile-ms'] ?? env.VIGIL_RECONCILE_MS, DEFAULTS.reconcileMs, 0, 7 * 24 * 3_600_000),
    targetPolicy: parseTargetPolicy(flags, env),
  }
  return deepFreeze(config)
}

function replicaCount(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined
  return integer('--replicas / VIGIL_REPLICAS', text, 1, 1, MAX_REPLICAS)
}

/**
 * The replica count streams and buckets get: the configured one, else 3 when the server reports a
 * cluster of 3 or more servers, else 1. `explicit` says whether an operator chose it (only then is
 * an existing stream ever scaled down).
 */
export function resolveReplicas(configured: number | undefined, clusterServers: number): { replicas: number; explicit: boolean } {
  if (configured !== undefined) return { replicas: configured, explicit: true }
  return { replicas: clusterServers >= 3 ? 3 : 1, explicit: false }
}

/** --target-roots / VIGIL_TARGET_ROOTS, --registry-allow / VIGIL_REGISTRY_ALLOW, --registry-deny / VIGIL_REGISTRY_DENY. */
function parseTargetPolicy(flags: ServeFlags, env: NodeJS.ProcessEnv): TargetPolicy {
  const localRoots = parseList(flags['target-roots'] ?? env.VIGIL_TARGET_ROOTS)
  for (const root of localRoots) {
    if (!isAbsolute(root)) throw new VigilError('ERR_CONFIG', `--target-roots / VIGIL_TARGET_ROOTS: "${root}" is not an absolute path`)
  }
  return {
    localRoots: localRoots.map((r) => resolve(r)),
    allowRegistries: parseList(flags['registry-allow'] ?? env.VIGIL_REGISTRY_ALLOW),
    denyRegistries: parseList(flags['registry-deny'] ?? env.VIGIL_REGISTRY_DENY),
  }
}

/** Nak delay for the n-th delivery (1-based): exponential, capped, so a flapping registry is not hammered. */
export function retryDelayMs(config: Pick<DaemonConfig, 'retryBaseMs' | 'retryMaxMs'>, delivery: number): number {
  return Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** Math.max(0, delivery - 1))
}
